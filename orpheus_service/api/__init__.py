"""The FastAPI service: app, sessions, auth, metrics, encoding and the routes."""
