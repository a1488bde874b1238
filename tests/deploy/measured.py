"""Lines the image tests measured (sizes, build and start times); tests/deploy/conftest.py
prints them at the end of the run so that CI's log carries them."""

from __future__ import annotations

MEASURED: list[str] = []
