"""AI Film Studio core: script → storyboard → render queue → film.

Import-light on purpose: `from studio import Studio` loads the core lazily, and nothing here
imports torch, diffusers or gradio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from studio.core.version import __version__

__all__ = ["RemoteStudio", "Studio", "__version__"]

if TYPE_CHECKING:
    from studio.api import Studio
    from studio.client.remote import RemoteStudio


def __getattr__(name: str) -> Any:
    if name == "Studio":
        from studio.api import Studio

        return Studio
    if name == "RemoteStudio":
        from studio.client.remote import RemoteStudio

        return RemoteStudio
    raise AttributeError(f"module 'studio' has no attribute {name!r}")
