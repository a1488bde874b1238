"""Prints what the image tests measured at the end of the run (tests/deploy/measured.py)."""

from __future__ import annotations

import pytest

from tests.deploy.measured import MEASURED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if MEASURED:
        terminalreporter.section("images")
        for line in MEASURED:
            terminalreporter.write_line(line)
