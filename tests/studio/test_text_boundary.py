"""Text no creator types is refused at the boundary with a 422 naming the field, the same on
SQLite and PostgreSQL, and nothing is written: NUL (PostgreSQL cannot store it), ANSI
escapes and other control characters, unpaired UTF-16 surrogates (neither database can)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from studio import Studio
from studio.core.errors import InvalidInput

BAD = {"nul": "a\x00b", "escape": "\x1b[31mred", "surrogate": "x\ud800y"}


@pytest.fixture
def studio(tmp_path: Path, database_url: str) -> Iterator[Studio]:
    with Studio.local(tmp_path / "data", database_url=database_url) as s:
        yield s


@pytest.mark.parametrize("kind", sorted(BAD))
def test_every_text_field_refuses_untypable_characters(studio: Studio, kind: str) -> None:
    bad = BAD[kind]
    project = studio.create_project("Rails")
    assert project.id is not None
    shots = studio.breakdown(project.id, "EXT. PIER - DAY\n\nMARA (40s) waits.\n")
    (mara,) = studio.cast(project.id)
    (scene,) = studio.scenes(project.id)
    pid, sid = project.id, shots[0].id
    calls: list[tuple[str, Callable[[], Any]]] = [
        ("Project name", lambda: studio.create_project(bad)),
        ("Style prompt", lambda: studio.update_project(pid, style_prompt=bad)),
        ("Script", lambda: studio.breakdown(pid, f"EXT. PIER - DAY\n\n{bad}\n")),
        ("Prompt", lambda: studio.add_shot(pid, bad)),
        ("Dialogue", lambda: studio.update_shot(sid, dialogue=bad)),
        ("Name", lambda: studio.update_shot(sid, characters=[bad])),
        ("Name", lambda: studio.add_cast_member(pid, bad)),
        ("Description", lambda: studio.update_cast_member(mara.id, description=bad)),
        ("Look", lambda: studio.update_scene(scene.id, look=bad)),
        ("Prompt", lambda: studio.lab_run("draft", bad)),
        ("name", lambda: studio.create_token(bad)),
    ]
    before = (studio.projects(), studio.shots(pid), studio.cast(pid), studio.scenes(pid))
    for field, call in calls:
        with pytest.raises(InvalidInput) as refused:
            call()
        assert refused.value.field == field, (field, refused.value)
        assert "U+" in str(refused.value)
    assert (studio.projects(), studio.shots(pid), studio.cast(pid), studio.scenes(pid)) == before
    # What creators do type still works: tabs, line breaks, accents, emoji, right-to-left.
    fine = studio.update_shot(sid, dialogue="Line one\n\tLine two — café 🎬 שלום")
    assert fine.dialogue.endswith("שלום")


def test_a_lone_surrogate_over_rest_is_a_422_not_a_500(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from app import create_app
    from studio.core.config import load_settings

    application = create_app(load_settings(data_dir=tmp_path / "data"))
    with TestClient(application) as client:
        body = b'{"name": "x\\ud800y"}'
        answer = client.post(
            "/api/v1/projects", content=body, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["field"] == "Project name"
        again = client.get("/api/v1/projects")  # the connection and the server are fine
        assert again.status_code == 200 and again.json()["items"] == []
