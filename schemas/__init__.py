"""Marshmallow schemas: the wire contract and the single source of the OpenAPI document."""
