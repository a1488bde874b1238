"""The studio's public surface, declared once: `StudioAPI` (every public method, its signature
and docstring) and `ROUTES` (how each method is reached over HTTP). The local studio
(studio/api/) implements the Protocol; the REST API (studio/web/rest/) and the SDK client
(studio/client/) are derived from the route table."""

from studio.surface.protocol import ROUTES, StudioAPI

__all__ = ["ROUTES", "StudioAPI"]
