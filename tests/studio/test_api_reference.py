"""docs/api.md is the REST reference generated from the OpenAPI document, and up to date."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from studio.core.config import load_settings
from studio.web.rest import reference

ROOT = Path(__file__).resolve().parents[2]
API_MD = ROOT / "docs" / "api.md"
REGENERATE = "python -m studio.web.rest.reference > docs/api.md"


def test_docs_api_md_is_up_to_date_with_the_openapi_document() -> None:
    expected = reference.render(reference.openapi_document())
    assert API_MD.read_text(encoding="utf-8") == expected, f"docs/api.md is stale: {REGENERATE}"


def test_the_generator_documents_what_the_app_serves(tmp_path: Path) -> None:
    from app import create_app

    application = create_app(load_settings(data_dir=tmp_path))
    with TestClient(application) as client:
        served = client.get("/api/v1/openapi.json").json()
    try:
        assert reference.openapi_document() == served
    finally:
        application.state.studio.close()


def test_every_route_method_and_schema_is_in_the_reference() -> None:
    doc = reference.openapi_document()
    text = API_MD.read_text(encoding="utf-8")
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            assert f"### `{method.upper()} {path}`" in text
            assert f"**{operation['summary']}**" in text
            for parameter in operation.get("parameters", []):
                assert f"`{parameter['name']}`" in text
    for name, schema in doc["components"]["schemas"].items():
        assert f"### {name}\n" in text
        for field in schema.get("properties", {}):
            assert f"| `{field}` |" in text


def test_check_mode_tells_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "api.md"
    stale.write_text("# old\n", encoding="utf-8")
    assert reference.main(["--check", str(stale)]) == 1
    assert reference.main(["--check", str(API_MD)]) == 0


def test_types_read_like_prose() -> None:
    assert reference.type_of({"type": "integer", "minimum": 1.0, "maximum": 100.0}) == (
        "integer (1–100)"
    )
    assert reference.type_of(
        {"anyOf": [{"$ref": "#/components/schemas/JobOut"}, {"type": "null"}]}
    ) == ("[`JobOut`](#jobout) or null")
    assert reference.type_of({"type": "array", "items": {"type": "string"}}) == "array of string"
    assert reference._cell("a | b\nc") == "a \\| b c"
