"""`runtime.service.asgi:app`, the import string uvicorn's workers load (settings from the environment)."""

from runtime.service.app import create_app

app = create_app()
