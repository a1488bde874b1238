"""The SDK client: `Studio.connect(url, token)` — the same surface over the REST API."""

from studio.client.remote import RemoteStudio

__all__ = ["RemoteStudio"]
