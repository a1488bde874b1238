"""Text no creator types is refused at the boundary with a 422 naming the field, the same on
SQLite and PostgreSQL, and nothing is written: NUL (PostgreSQL cannot store it), ANSI
escapes and other control characters, unpaired UTF-16 surrogates (neither database can)."""

from __future__ import annotations

import json
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
        # The strict schema catches it before the studio does (which says the same).
        assert answer.json()["error"]["field"] == "name"
        assert "unpaired surrogate" in answer.json()["error"]["message"]
        again = client.get("/api/v1/projects")  # the connection and the server are fine
        assert again.status_code == 200 and again.json()["items"] == []


def _resolve(schema: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    """A schema with its $ref followed and `X | None` reduced to X."""
    if "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    return _resolve(options[0], doc) if len(options) == 1 else schema


def _text_variants(schema: dict[str, Any], doc: dict[str, Any], bad: str) -> list[Any]:
    """Values that carry `bad` as text where this field takes text: the string itself, in a
    list, as a mapping's value or key."""
    schema = _resolve(schema, doc)
    kinds = {s.get("type") for s in schema.get("anyOf", [schema])}
    variants: list[Any] = []
    if "string" in kinds:
        variants.append(bad)
    if "array" in kinds and "string" in str(schema.get("items", {})):
        variants.append([bad])
    if "object" in kinds:
        values = schema.get("additionalProperties", {})
        variants.append({bad: 1})
        variants.append({"seed": [bad]} if "array" in str(values) else {"steps": bad})
    return variants


def _snapshot(engine: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table the creator's calls write (workers beat on their own)."""
    from sqlalchemy import MetaData, select

    tables = MetaData()
    tables.reflect(engine)
    with engine.connect() as connection:
        return {
            name: sorted(map(tuple, connection.execute(select(table))), key=repr)
            for name, table in tables.tables.items()
            if name not in ("worker", "alembic_version")
        }


def test_every_string_field_of_every_write_route_refuses_them(
    tmp_path: Path, database_url: str
) -> None:
    """Walks the OpenAPI document: each text field (in lists and mappings too) of each JSON
    body, with each kind of bad text, is a 422 and leaves every table as it was."""
    from fastapi.testclient import TestClient

    from app import create_app
    from studio.core.config import load_settings
    from tests.studio.test_rest_api import BODIES

    application = create_app(load_settings(data_dir=tmp_path / "data", database_url=database_url))
    studio: Studio = application.state.studio
    project = studio.create_project("Rails")
    assert project.id is not None
    shots = studio.breakdown(project.id, "EXT. PIER - DAY\n\nMARA (40s) waits.\n")
    (take,) = studio.preview(project.id, wait=True, progress=False)
    (mara,) = studio.cast(project.id)
    (scene,) = studio.scenes(project.id)
    studio.create_user("bob", "correct-horse-9")  # the grants body's user
    ids = {
        "project_id": project.id,
        "shot_id": shots[0].id,
        "member_id": mara.id,
        "scene_id": scene.id,
        "job_id": take.id,
    }
    walked: set[str] = set()
    with TestClient(application) as client:
        doc = client.get("/api/v1/openapi.json").json()
        before = _snapshot(studio.engine)
        for template, operations in doc["paths"].items():
            for method, operation in operations.items():
                content = operation.get("requestBody", {}).get("content", {})
                if "application/json" not in content:
                    continue
                body = _resolve(content["application/json"]["schema"], doc)
                base = BODIES.get((method.upper(), template), {})
                for field, schema in body.get("properties", {}).items():
                    for kind, bad in BAD.items():
                        for value in _text_variants(schema, doc, bad):
                            payload = json.dumps({**base, field: value}).encode()
                            answer = client.request(
                                method.upper(),
                                template.format(**ids),
                                content=payload,
                                headers={"content-type": "application/json"},
                            )
                            where = f"{method.upper()} {template} {field}={value!r} ({kind})"
                            assert answer.status_code == 422, (where, answer.text[:300])
                            assert answer.json()["error"]["field"], where
                            walked.add(f"{method.upper()} {template} {field}")
        assert _snapshot(studio.engine) == before
    # The walk reached the routes creators write text through (a shrinking document would
    # pass vacuously).
    for expected in (
        "POST /api/v1/projects name",
        "POST /api/v1/projects/{project_id}/breakdown script",
        "PATCH /api/v1/shots/{shot_id} characters",
        "POST /api/v1/lab/runs overrides",
        "POST /api/v1/tokens name",
        "POST /api/v1/credits/grants reason",
    ):
        assert expected in walked, sorted(walked)
    assert len(walked) >= 40, len(walked)


def test_a_login_name_with_a_nul_is_a_failed_login_not_a_500(studio: Studio) -> None:
    from studio.core.errors import Unauthorized

    for name in BAD.values():
        with pytest.raises(Unauthorized, match="Wrong user name or password"):
            studio.authenticate(name, "correct-horse-9", "10.0.0.9")
