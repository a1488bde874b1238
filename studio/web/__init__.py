"""The studio's HTTP layer around the Gradio UI: login and sessions, who is asking (cookie or
API token), authorized artifact downloads and signed links, and JSON error bodies."""

from studio.web.mount import mount_web

__all__ = ["mount_web"]
