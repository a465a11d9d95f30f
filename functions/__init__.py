"""The HTTP edge: small FastAPI handlers that verify, validate and call one SQL function."""
