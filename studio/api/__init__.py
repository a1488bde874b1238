"""The studio's Python API: `Studio`, the notebook and UI surface over the core."""

from studio.api.studio import Studio

__all__ = ["Studio"]
