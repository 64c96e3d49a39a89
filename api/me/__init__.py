"""me endpoints."""
