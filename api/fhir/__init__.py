"""FHIR R4 interoperability endpoints."""
