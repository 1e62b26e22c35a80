"""The service's HTTP API, one FastAPI router per resource, all under ``/api/v1``."""
