"""Instrument catalogue endpoints."""
