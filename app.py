"""Serve the studio: `python app.py` (same as `python -m studio serve`), or give
`app:create_app` (a factory) to an ASGI server. The app itself is built in studio/web/app.py."""

from studio.web.app import create_app

__all__ = ["create_app"]

if __name__ == "__main__":
    from studio.cli import main

    raise SystemExit(main(["serve"]))
