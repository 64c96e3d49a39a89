"""health endpoints."""
