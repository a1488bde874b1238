"""docs/api.md: the REST API reference, generated from the OpenAPI document (/api/v1/openapi.json).

    python -m studio.web.rest.reference > docs/api.md      # regenerate
    python -m studio.web.rest.reference --check docs/api.md  # exit 1 when out of date

Per route: method, path, summary, description, parameters, request body fields and
responses; then every schema the routes name. tests/studio/test_api_reference.py fails when
docs/api.md differs from what this prints, so change a route, then regenerate.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

METHODS = ("get", "post", "put", "patch", "delete")
REF = "#/components/schemas/"
HEADER = (
    "<!-- Generated from /api/v1/openapi.json by `python -m studio.web.rest.reference > "
    "docs/api.md`. Do not edit by hand. -->"
)


def openapi_document() -> dict[str, Any]:
    """The /api/v1 OpenAPI document, as the app serves it, built without a studio."""
    from typing import cast

    from fastapi import FastAPI

    from studio.web.identity import Identity
    from studio.web.rest import install, openapi_schema

    api = FastAPI()
    install(api, cast(Identity, None))  # the identity is only used while serving requests
    return openapi_schema(api)


def _anchor(title: str) -> str:
    """GitHub's heading anchor for `title`."""
    slug = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return slug.replace(" ", "-")


def _cell(text: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref", "")
    return ref[len(REF) :] if ref.startswith(REF) else None


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def type_of(schema: dict[str, Any]) -> str:
    """A short human type: `integer (1–100)`, ``[`JobOut`](#jobout)``, `array of string`, …"""
    name = _ref_name(schema)
    if name:
        return f"[`{name}`](#{_anchor(name)})"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [type_of(option) for option in schema[key]]
            return " or ".join(dict.fromkeys(options))
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return type_of(schema["allOf"][0])
    if "enum" in schema:
        return "one of " + ", ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    kind = schema.get("type", "any")
    if kind == "array":
        text = f"array of {type_of(schema.get('items', {}))}"
    elif kind == "object" and "additionalProperties" in schema:
        extra = schema["additionalProperties"]
        text = f"object of {type_of(extra)}" if isinstance(extra, dict) and extra else "object"
    else:
        text = str(kind)
    if "format" in schema:
        text += f" ({schema['format']})"
    limits = []
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None:
        limits.append(f"{_number(low)}–{_number(high)}")
    elif low is not None:
        limits.append(f"≥ {_number(low)}")
    elif high is not None:
        limits.append(f"≤ {_number(high)}")
    if "exclusiveMinimum" in schema:
        limits.append(f"> {_number(schema['exclusiveMinimum'])}")
    if "exclusiveMaximum" in schema:
        limits.append(f"< {_number(schema['exclusiveMaximum'])}")
    low, high = schema.get("minLength"), schema.get("maxLength")
    if low is not None and high is not None:
        limits.append(f"{low}–{high} chars")
    elif high is not None:
        limits.append(f"≤ {high} chars")
    elif low is not None:
        limits.append(f"≥ {low} chars")
    if "maxItems" in schema:
        limits.append(f"≤ {schema['maxItems']} items")
    if "pattern" in schema:
        limits.append(f"pattern `{schema['pattern']}`")
    return f"{text} ({', '.join(limits)})" if limits else text


def _description(schema: dict[str, Any]) -> str:
    return str(schema.get("description", ""))


def _default(schema: dict[str, Any]) -> str:
    return f"`{json.dumps(schema['default'])}`" if "default" in schema else ""


def fields_table(schema: dict[str, Any]) -> list[str]:
    """A schema's properties as a Markdown table (or a one-line type for other schemas)."""
    properties = schema.get("properties")
    if not properties:
        text = type_of(schema)
        return [f"Type: {text}."] if text != "object" else ["An object (any fields)."]
    required = set(schema.get("required", []))
    lines = ["| Field | Type | Required | Default | Description |", "|---|---|---|---|---|"]
    for name, prop in properties.items():
        lines.append(
            f"| `{name}` | {_cell(type_of(prop))} | {'yes' if name in required else 'no'} "
            f"| {_cell(_default(prop))} | {_cell(_description(prop))} |"
        )
    if schema.get("additionalProperties") is False:
        lines += ["", "No other fields are accepted."]
    return lines


def _body_schema(body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The request body's schema and whether it may be left out (absent, or `null`)."""
    content = body.get("content", {})
    media: dict[str, Any] = content.get("application/json") or next(iter(content.values()), {})
    schema = media.get("schema", {})
    optional = not body.get("required", False)
    options = schema.get("anyOf")
    if options:
        concrete = [o for o in options if o.get("type") != "null"]
        if len(concrete) == 1 and len(options) == 2:
            return concrete[0], True
    return schema, optional


def _response_row(status: str, response: dict[str, Any]) -> str:
    content = response.get("content", {})
    bodies = [
        type_of(media["schema"]) if media.get("schema") else f"`{media_type}`"
        for media_type, media in content.items()
    ]
    return (
        f"| {status} | {_cell(response.get('description', ''))} "
        f"| {_cell(', '.join(bodies) or '—')} |"
    )


def common_responses(operations: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The responses (status and body) every operation has alike: listed once, not per route."""
    if not operations:
        return {}
    first = operations[0].get("responses", {})
    return {
        status: response
        for status, response in first.items()
        if not status.startswith("2")
        and all(o.get("responses", {}).get(status) == response for o in operations)
    }


def route_section(
    method: str,
    path: str,
    operation: dict[str, Any],
    schemas: dict[str, Any],
    common: dict[str, dict[str, Any]],
) -> list[str]:
    title = f"{method.upper()} {path}"
    lines = [f"### `{title}`", ""]
    if operation.get("summary"):
        lines += [f"**{operation['summary']}**", ""]
    if operation.get("description"):
        lines += [" ".join(line.strip() for line in operation["description"].splitlines()), ""]
    if operation.get("deprecated"):
        lines += ["*Deprecated.*", ""]
    parameters = operation.get("parameters", [])
    if parameters:
        lines += [
            "Parameters:",
            "",
            "| Name | In | Type | Required | Default | Description |",
            "|---|---|---|---|---|---|",
        ]
        for parameter in parameters:
            schema = parameter.get("schema", {})
            description = parameter.get("description") or _description(schema)
            lines.append(
                f"| `{parameter['name']}` | {parameter['in']} | {_cell(type_of(schema))} "
                f"| {'yes' if parameter.get('required') else 'no'} | {_cell(_default(schema))} "
                f"| {_cell(description)} |"
            )
        lines.append("")
    if "requestBody" in operation:
        schema, optional = _body_schema(operation["requestBody"])
        name = _ref_name(schema)
        label = f" ({type_of(schema)})" if name else ""
        lines += [f"Request body{label}{', optional' if optional else ''}:", ""]
        lines += fields_table(schemas.get(name, {}) if name else schema)
        lines.append("")
    lines += ["Responses:", "", "| Status | Description | Body |", "|---|---|---|"]
    for status, response in sorted(operation.get("responses", {}).items()):
        if status not in common:
            lines.append(_response_row(status, response))
    if common:
        lines += ["", f"Also the [errors every route can answer](#errors) ({', '.join(common)})."]
    return [*lines, ""]


def render(doc: dict[str, Any]) -> str:
    """The Markdown reference of an OpenAPI document."""
    info = doc.get("info", {})
    schemas = doc.get("components", {}).get("schemas", {})
    security = doc.get("components", {}).get("securitySchemes", {})
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, operations in doc.get("paths", {}).items():
        for method in METHODS:
            if method in operations:
                operation = operations[method]
                tag = (operation.get("tags") or ["other"])[0]
                by_tag.setdefault(tag, []).append((method, path, operation))

    lines = [
        HEADER,
        "",
        f"# {info.get('title', 'API')} reference",
        "",
        f"Version {info.get('version', '')}, OpenAPI {doc.get('openapi', '')}. "
        "The machine-readable document is served at `/api/v1/openapi.json`; "
        "[sdk.md](sdk.md) is the Python client over it.",
        "",
    ]
    if info.get("description"):
        lines += [" ".join(info["description"].split()), ""]
    for name, scheme in security.items():
        kind = scheme.get("scheme") or scheme.get("type", "")
        lines += [f"Authentication (`{name}`, {kind}): {scheme.get('description', '')}", ""]

    common = common_responses([op for routes in by_tag.values() for _m, _p, op in routes])
    if common:
        lines += [
            "## Errors",
            "",
            "Every route can answer these; the body is an [`ErrorOut`](#errorout).",
            "",
            "| Status | Description | Body |",
            "|---|---|---|",
            *(_response_row(status, response) for status, response in sorted(common.items())),
            "",
        ]

    lines += ["## Routes", ""]
    for tag, routes in by_tag.items():
        lines.append(f"- **[{tag}](#{_anchor(tag)})**")
        for method, path, operation in routes:
            title = f"{method.upper()} {path}"
            summary = operation.get("summary", "")
            lines.append(f"  - [`{title}`](#{_anchor(title)}) — {summary}")
    lines.append("")

    for tag, routes in by_tag.items():
        lines += [f"## {tag}", ""]
        for method, path, operation in routes:
            lines += route_section(method, path, operation, schemas, common)

    if schemas:
        lines += ["## Schemas", ""]
        for name, schema in sorted(schemas.items()):
            lines += [f"### {name}", ""]
            if schema.get("description"):
                lines += [" ".join(schema["description"].split()), ""]
            lines += [*fields_table(schema), ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print docs/api.md from the OpenAPI document.")
    parser.add_argument("--check", type=Path, help="compare with this file; exit 1 if it differs")
    args = parser.parse_args(argv)
    text = render(openapi_document())
    if args.check is not None:
        current = args.check.read_text(encoding="utf-8") if args.check.exists() else ""
        if current != text:
            print(
                f"{args.check} is out of date: python -m studio.web.rest.reference > {args.check}",
                file=sys.stderr,
            )
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
