"""Property-based checks of the REST API against its own OpenAPI document (schemathesis,
in-process over ASGI): for generated valid requests on every operation, no 5xx, and every
response conforms to the documented status codes, content types and schemas."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from studio.core.config import load_settings  # noqa: E402

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 15


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Any, dict[str, str], dict[str, int]]]:
    from app import create_app

    data = tmp_path_factory.mktemp("fuzz")
    application = create_app(
        load_settings(
            data_dir=data,
            auth=True,
            credits=True,
            secret_key="y" * 20,
            # Every operation's examples come from one token, well over 600 a minute (the
            # per-token limit has its own test in test_rest_api.py).
            api_requests_per_minute=100_000,
        )
    )
    studio = application.state.studio
    studio.create_user("fuzzer", "correct-horse-9")
    studio.grant_credits("fuzzer", 5, "a few renders, not a farm's worth")
    fuzzer = studio.as_user("fuzzer")
    project = fuzzer.create_project("Seed project", height=144)
    shot = fuzzer.add_shot(project.id, "A lighthouse", duration=1.0)
    (take,) = fuzzer.render(project.id, wait=True, progress=False)
    member = fuzzer.add_cast_member(project.id, "Mara", description="40s, weathered coat")
    fuzzer.update_shot(shot.id, scene="EXT. LIGHTHOUSE - DUSK")
    (scene,) = fuzzer.scenes(project.id)
    ids = {
        "project_id": project.id,
        "shot_id": shot.id,
        "job_id": take.id,
        "artifact_id": take.artifact_id,
        "member_id": member.id,
        "scene_id": scene.id,
    }
    token = fuzzer.create_token("fuzz")[1]
    spare, _plain = fuzzer.create_token("spare")  # what DELETE /tokens/{token_id} revokes
    ids["token_id"] = spare.id
    ids["name"] = "fuzzer"
    try:
        yield application, {"Authorization": f"Bearer {token}"}, ids
    finally:
        studio.close()


def test_every_operation_keeps_to_its_schema(
    api: tuple[Any, dict[str, str], dict[str, int]],
) -> None:
    application, headers, ids = api
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", application)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    # A project's event stream never ends on its own (tests/studio/test_rest_events.py
    # covers it); a job's ends at once for the seeded, finished job and stays in.
    operations = [o for o in operations if o.path != "/api/v1/projects/{project_id}/events"]
    # Deletes last, so that the other operations meet the seeded objects; revoking tokens
    # very last (a generated id may be the fuzzer's own token).
    operations.sort(
        key=lambda operation: (
            operation.method.upper() == "DELETE",
            operation.path == "/api/v1/tokens/{token_id}",
        )
    )
    for operation in operations:

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,  # the same examples every run
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(
            case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            real=st.integers(0, 3),
        )
        def check(case: Any, real: int) -> None:
            if real and case.path_parameters:  # mostly the caller's own objects, not 404s
                for name in case.path_parameters:
                    case.path_parameters[name] = ids[name]
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS, headers=headers)

        check()
