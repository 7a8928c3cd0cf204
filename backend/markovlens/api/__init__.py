"""REST API v1 (FastAPI), the progress stream and the static frontend mount."""

from markovlens.api.app import create_app

__all__ = ["create_app"]
