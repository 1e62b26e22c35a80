"""The central service: FastAPI over PostgreSQL (see :func:`kiosk.server.app.create_app`)."""
