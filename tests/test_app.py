"""The composition root: health, readiness (and its failures) and the Gradio page at "/"."""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app import create_app
from studio.api import Studio
from studio.core.config import load_settings
from studio.farm import registry


def _studio(app: FastAPI) -> Studio:
    studio = app.state.studio
    assert isinstance(studio, Studio)
    return studio


def _make_app(tmp: Path) -> FastAPI:
    return create_app(
        load_settings(
            data_dir=tmp / "data",
            database_url=f"sqlite:///{tmp / 'db' / 'studio.db'}",
            storage_root=tmp / "blobs",
        )
    )


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Path]]:
    """One app shared by the read-only tests (building the Gradio UI takes a while)."""
    tmp = tmp_path_factory.mktemp("app")
    # create_app sets GRADIO_TEMP_DIR in os.environ; keep it from leaking into other tests.
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("GRADIO_TEMP_DIR", raising=False)
        with TestClient(_make_app(tmp)) as client:
            yield client, tmp


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    """A fresh app for a test that breaks something."""
    monkeypatch.delenv("GRADIO_TEMP_DIR", raising=False)
    return _make_app(tmp_path)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def test_healthz(healthy: tuple[TestClient, Path]) -> None:
    client, _ = healthy
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_every_check_ok(healthy: tuple[TestClient, Path]) -> None:
    client, _ = healthy
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "storage": "ok", "queue": "ok"},
    }


def test_root_serves_the_gradio_page(healthy: tuple[TestClient, Path]) -> None:
    client, _ = healthy
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text.lower()
    assert "gradio" in response.text.lower()
    assert "AI Film Studio" in response.text


def test_app_uses_the_settings_it_was_given(healthy: tuple[TestClient, Path]) -> None:
    client, tmp = healthy
    studio = _studio(client.app)  # type: ignore[arg-type]
    assert studio.settings.data_dir == tmp / "data"
    assert (tmp / "db" / "studio.db").is_file()  # migrated at start
    assert studio.storage.root == tmp / "blobs"  # type: ignore[attr-defined]
    assert studio.queue.running


def test_readyz_503_when_the_render_worker_died(client: TestClient, app: FastAPI) -> None:
    queue = _studio(app).queue
    queue.stop()
    dead = threading.Thread(target=lambda: None)
    dead.start()
    dead.join()
    queue._thread = dead  # type: ignore[attr-defined]  # the worker thread exited (e.g. crashed) while the app kept serving

    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["storage"] == "ok"
    assert body["checks"]["queue"].startswith("error:")
    assert "worker" in body["checks"]["queue"]
    assert client.get("/healthz").status_code == 200  # alive, just not ready


def test_readyz_503_when_the_storage_root_is_gone(app: FastAPI, tmp_path: Path) -> None:
    studio = _studio(app)
    with TestClient(app) as client:
        shutil.rmtree(tmp_path / "blobs")  # e.g. the volume was unmounted
        response = client.get("/readyz")
        assert response.status_code == 503
        checks = response.json()["checks"]
        assert checks["storage"].startswith("error:")
        assert str(tmp_path / "blobs") in checks["storage"]
        assert checks["database"] == "ok"
        assert checks["queue"] == "ok"

        (tmp_path / "blobs").mkdir()  # the volume is back: ready again, no restart needed
        assert client.get("/readyz").status_code == 200
        assert studio.queue.running
    # Leaving the app (shutdown) stops the render worker.
    assert not studio.queue.running


def test_readyz_503_when_the_database_is_gone(
    client: TestClient, app: FastAPI, tmp_path: Path
) -> None:
    studio = _studio(app)
    studio.queue.stop()  # keep the worker from touching the database while it goes away
    shutil.rmtree(tmp_path / "db")
    studio.engine.dispose()  # drop pooled connections to the deleted file
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"].startswith("error:")
    assert checks["storage"] == "ok"


def test_metrics_report_queue_jobs_workers_and_latency(tmp_path: Path) -> None:
    app = create_app(load_settings(data_dir=tmp_path / "metrics"))
    with TestClient(app) as client:
        studio = app.state.studio
        project = studio.create_project("M")
        studio.breakdown(project.id, "EXT. SEA - DAY\n\nWaves roll in. A boat sails by.\n")
        studio.preview(project.id, wait=True, progress=False)
        # A farm worker that lost Redis says so in its row (studio.farm.worker).
        registry.register(studio.engine, "gpu-1", "redis")
        registry.beat(studio.engine, "gpu-1", current_job_id=None, state="waiting")
        client.get("/healthz")
        body = client.get("/metrics").text
    done = 'kind="preview",pipeline="draft",status="succeeded"'
    assert f"studio_jobs_finished_total{{{done}}} 2.0" in body
    assert 'studio_jobs_active{kind="preview",status="queued"} 0.0' in body
    assert 'studio_job_duration_seconds_count{pipeline="draft"} 2.0' in body
    assert 'studio_workers{kind="inline"} 1.0' in body
    assert 'studio_workers{kind="redis"} 1.0' in body
    assert 'studio_workers_by_state{state="waiting"} 1.0' in body
    assert 'studio_workers_by_state{state="busy"} 0.0' in body
    assert (
        'studio_http_request_duration_seconds_count{method="GET",route="/healthz",status="200"}'
        in body
    )
    assert "studio_credits_held" in body and "studio_worker_heartbeat_age_seconds" in body


def test_every_route_label_is_the_template_the_client_sees(tmp_path: Path) -> None:
    """REST routes (an included router) and the app's own routes share one scheme, the full
    path template; a path no route matched is `other`, whatever was asked."""
    app = create_app(load_settings(data_dir=tmp_path / "routes"))
    with TestClient(app) as client:
        project = _studio(app).create_project("Labels")
        assert client.get("/api/v1/projects").status_code == 200
        assert client.get(f"/api/v1/projects/{project.id}").status_code == 200
        assert client.get("/api/v1/openapi.json").status_code == 200
        assert client.get("/no-such-page-4711").status_code == 404
        assert client.get("/api/v1/no/such/route-4711").status_code == 404
        body = client.get("/metrics").text
    routes = {
        line.split('route="', 1)[1].split('"', 1)[0]
        for line in body.splitlines()
        if line.startswith("studio_http_request_") and "_count{" in line
    }
    assert {
        "/api/v1/projects",
        "/api/v1/projects/{project_id}",
        "/api/v1/openapi.json",
        "other",
        "/api/v1/{rest:path}",  # the REST API's own catch-all (its 404 and 405 answers)
    } <= routes
    # No raw path: neither the unknown paths nor the project's id.
    assert not [route for route in routes if "4711" in route or re.search(r"/\d+(/|$)", route)]
    assert not [route for route in routes if not (route == "other" or route.startswith("/"))]
    assert "/projects" not in routes  # the old scheme: the REST prefix left out


def test_metrics_answer_only_to_their_token_when_one_is_set(tmp_path: Path) -> None:
    token = "scrape-token-0123456789"
    app = create_app(load_settings(data_dir=tmp_path / "m", metrics_token=token))
    with TestClient(app) as client:
        refused = client.get("/metrics")
        wrong = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-99"})
        scraped = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == wrong.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert "studio_" not in refused.text + wrong.text
    assert scraped.status_code == 200 and "studio_queue_depth" in scraped.text


@pytest.mark.parametrize("tier", ["testing", "staging", "production"])
def test_metrics_are_private_outside_dev(tier: str) -> None:
    from studio.web.app import metrics_refusal

    cloud = {
        "tier": tier,
        "database_url": "postgresql+psycopg://db/studio",
        "redis_url": "redis://cache:6379/0",
        "secret_key": "s" * 40,
        "storage_backend": "s3",
        "s3_bucket": "artifacts",
    }
    off = metrics_refusal(load_settings(**cloud), "")
    assert off is not None and off.status_code == 404
    assert b"STUDIO_METRICS_TOKEN" in off.body
    guarded = load_settings(**cloud, metrics_token="t" * 24)
    assert metrics_refusal(guarded, "").status_code == 401
    assert metrics_refusal(guarded, "Bearer " + "t" * 24) is None
    # In dev, without a token, a local Prometheus scrapes it as before.
    assert metrics_refusal(load_settings(), "") is None
    with pytest.raises(ValueError, match="at least 16"):
        load_settings(metrics_token="short")
