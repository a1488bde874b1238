"""The Lab tab's sweep, as a creator sees it: a grid with the first parameter's values across
and the second's down, each cell the render made with that pair."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from studio import Studio
from studio.core.lab import KNOBS
from studio.ui import build_ui
from tests.studio.test_ui_accounts import UI, as_


@pytest.fixture
def studio(tmp_path: Path) -> Iterator[Studio]:
    with Studio.local(tmp_path / "data") as local:
        yield local


def progress(*_args: Any, **_kwargs: Any) -> None:
    """Stands in for gr.Progress outside a running app."""


def test_a_two_parameter_sweep_is_a_grid(studio: Studio) -> None:
    ui = UI(build_ui(studio))
    blank = [""] * len(KNOBS)
    gallery, status, grid = ui("lab_tab.on_sweep")(
        as_(None), "draft", "A harbour at dusk", "", 0, "", [], "",
        *blank, "seed", "1, 2, 3", "width", "64, 96", progress=progress,
    )  # fmt: skip
    assert "6 succeeded" in status and len(gallery) == 6
    header = re.findall(r"<th>(seed = \d)</th>", grid)
    assert header == ["seed = 1", "seed = 2", "seed = 3"]
    rows = grid.split("<tbody>")[1].split("<tr>")[1:]
    assert [re.search(r"<th>(width = \d+)</th>", r).group(1) for r in rows] == [  # type: ignore[union-attr]
        "width = 64",
        "width = 96",
    ]
    jobs = {j.id: j for j in studio.lab_jobs()}
    for row, width in zip(rows, (64, 96), strict=True):
        cells = re.findall(r"#(\d+)</figcaption>", row)
        assert [jobs[int(c)].params["request"]["seed"] for c in cells] == [1, 2, 3]
        assert {jobs[int(c)].params["request"]["width"] for c in cells} == {width}
        assert row.count("<img src='/files/") == 3
