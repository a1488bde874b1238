"""The REST API against its own OpenAPI document, through schemathesis's engine (what its CLI
runs), in-process over ASGI: the coverage phase (boundary values and schema-violating bodies
for every field), fuzzing and the stateful phase (chains of calls that follow the responses),
with all of schemathesis's default checks. 0 failures is the bar: no 5xx, every answer as
documented, schema-valid input accepted, invalid input refused with a 4xx, 405 for methods a
path does not take.

It acts as a creator with an API token, and proves that it does: most requests are
authenticated (a 401 means the coverage phase is testing a missing token on purpose), and
most operations answer 2xx at least once."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

schemathesis = pytest.importorskip("schemathesis")

from schemathesis.engine import events, from_schema  # noqa: E402

from studio.core.config import load_settings  # noqa: E402

EXAMPLES = 5  # per operation in the fuzzing phase (coverage's cases are their own count)
# A schema-valid request the studio still refuses: a pipeline name the catalogue lacks, a
# render of a project without shots, a cursor it did not give out, no credits left. The
# document cannot say "a name from the catalogue", so these are 4xx with a message, not
# failures; a 5xx or an undocumented status still is one.
ACCEPTED = ["2xx", "3xx", "401", "402", "403", "404", "409", "422", "429"]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, dict[str, Any]]]:
    from app import create_app

    application = create_app(
        load_settings(
            data_dir=tmp_path_factory.mktemp("fuzz"),
            auth=True,
            credits=True,
            secret_key="y" * 20,
            # Thousands of requests from one token, well over 600 a minute (the per-token
            # limit has its own test in test_rest_api.py).
            api_requests_per_minute=1_000_000,
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
    fuzzer.update_shot(shot.id, scene="EXT. LIGHTHOUSE - DAY")
    (scene,) = fuzzer.scenes(project.id)
    ids = {
        "project_id": project.id,
        "shot_id": shot.id,
        "job_id": take.id,
        "take_id": take.id,
        "artifact_id": take.artifact_id,
        "member_id": member.id,
        "scene_id": scene.id,
    }
    token = fuzzer.create_token("fuzz")[1]
    try:
        yield application, token, ids
    finally:
        studio.close()


class Run:
    """What one engine run did: statuses per phase, operations that answered 2xx, failures."""

    def __init__(self) -> None:
        self.statuses: Counter[tuple[str, int]] = Counter()
        self.succeeded: set[str] = set()
        self.operations: set[str] = set()
        self.failures: list[str] = []
        self.phases: dict[str, str] = {}

    def record(self, event: Any) -> None:
        if isinstance(event, events.PhaseFinished):
            self.phases[event.phase.name.value] = event.status.value
        if isinstance(event, (events.NonFatalError, events.FatalError)):
            self.failures.append(f"error: {getattr(event, 'info', event)}")
        if not isinstance(event, events.ScenarioFinished):
            return
        for case_id, interaction in event.recorder.interactions.items():
            if interaction.response is None:
                continue
            status = interaction.response.status_code
            self.statuses[(event.phase.value, status)] += 1
            if 200 <= status < 300:
                path = urlsplit(interaction.request.uri).path
                self.succeeded.add(operation(interaction.request.method, path))
            for check in event.recorder.checks.get(case_id, []):
                if check.status.name != "SUCCESS":
                    request = interaction.request
                    self.failures.append(
                        f"{check.name}: {request.method} {request.uri} "
                        f"{(request.body or b'')[:200]!r} -> {status} "
                        f"{interaction.response.content[:200]!r}"
                    )


IDS = re.compile(r"/(\{[^}]+\}|\d+)(?=/|$)")


def operation(method: str, path: str) -> str:
    """`POST /api/v1/projects/{id}/shots` for a template or a path with ids in it."""
    return method.upper() + " " + IDS.sub("/{id}", path)


def run(application: Any, token: str, phases: list[str], parameters: dict[str, Any]) -> Run:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", application)
    # A project's event stream never ends on its own (test_rest_events.py covers it), and
    # revoking tokens would revoke the fuzzer's own (test_rest_api.py covers it).
    schema = schema.exclude(path="/api/v1/projects/{project_id}/events").exclude(
        path="/api/v1/tokens/{token_id}", method="DELETE"
    )
    schema.config.update(parameters=parameters)
    schema.config.phases.update(phases=phases)
    schema.config.generation.update(max_examples=EXAMPLES, deterministic=True)
    schema.config.checks.positive_data_acceptance.expected_statuses = ACCEPTED

    @schema.auth()
    class Bearer:
        def get(self, case: Any, context: Any) -> str:
            return token

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    outcome = Run()
    outcome.operations = {
        operation(result.ok().method, result.ok().path) for result in schema.get_all_operations()
    }
    for event in from_schema(schema).execute():
        outcome.record(event)
    total = sum(outcome.statuses.values())
    ok = sum(n for (_phase, status), n in outcome.statuses.items() if 200 <= status < 300)
    print(  # what the run reached, for the log (pytest -s, or on a failure)
        f"{'+'.join(phases)}: {total} requests, {ok} answered 2xx, "
        f"{len(outcome.succeeded)} of {len(outcome.operations)} operations reached 2xx"
    )
    return outcome


def test_coverage_and_fuzzing_keep_to_the_document(
    api: tuple[Any, str, dict[str, Any]],
) -> None:
    application, token, ids = api
    # Path ids of the fuzzer's own objects, so that operations reach them (not only 404s).
    outcome = run(application, token, ["coverage", "fuzzing"], ids)
    ran = {name: outcome.phases.get(name) for name in ("coverage", "fuzzing")}
    assert ran == {"coverage": "success", "fuzzing": "success"}, outcome.failures
    assert outcome.failures == []
    total = sum(outcome.statuses.values())
    assert total > 1000, outcome.statuses  # the coverage phase really ran
    unauthorized = sum(n for (_phase, status), n in outcome.statuses.items() if status == 401)
    ok = sum(n for (_phase, status), n in outcome.statuses.items() if 200 <= status < 300)
    # Authenticated: 401s are only the deliberate missing-token cases.
    assert unauthorized / total < 0.1, outcome.statuses
    assert ok / total > 0.1, outcome.statuses
    # Deep: most operations answered 2xx at least once.
    assert len(outcome.succeeded) >= 0.6 * len(outcome.operations), sorted(
        outcome.operations - outcome.succeeded
    )


def test_stateful_chains_keep_to_the_document(api: tuple[Any, str, dict[str, Any]]) -> None:
    application, token, _ids = api
    # No pinned ids: the chains take them from the answers (a project made, then its shots).
    outcome = run(application, token, ["stateful"], {})
    assert outcome.phases.get("stateful") == "success", (outcome.phases, outcome.failures)
    assert outcome.failures == []
    assert any(200 <= status < 300 for (_phase, status) in outcome.statuses), outcome.statuses
