"""care endpoints."""
