"""The studio on S3: remote workers upload straight to the bucket; downloads are signed URLs."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from studio import Studio
from studio.film.video import probe
from tests.farm import Farm, redis_db_url, wait_for
from tests.services import S3Server

pytestmark = pytest.mark.integration

SCRIPT = "EXT. FIELD - DAY\n\nWind moves through the grass. A kite rises.\n"


@pytest.fixture
def bucket(s3_server: S3Server) -> Iterator[str]:
    import boto3
    from botocore.config import Config

    admin: Any = boto3.session.Session().client(
        "s3",
        endpoint_url=s3_server.endpoint_url,
        region_name=s3_server.region,
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key=s3_server.secret_key,
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
    )
    name = f"studio-farm-{os.urandom(4).hex()}"
    admin.create_bucket(Bucket=name)
    yield name
    for page in admin.get_paginator("list_objects_v2").paginate(Bucket=name):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            admin.delete_objects(Bucket=name, Delete={"Objects": keys})
    admin.delete_bucket(Bucket=name)


def s3_env(server: S3Server, bucket: str) -> dict[str, str]:
    return {
        "STUDIO_STORAGE_BACKEND": "s3",
        "STUDIO_S3_BUCKET": bucket,
        "STUDIO_S3_PREFIX": "studio",
        "STUDIO_S3_ENDPOINT_URL": server.endpoint_url,
        "STUDIO_S3_REGION": server.region,
        "STUDIO_S3_ACCESS_KEY_ID": server.access_key,
        "STUDIO_S3_SECRET_ACCESS_KEY": server.secret_key,
    }


def test_remote_worker_renders_into_s3_and_the_film_downloads_by_signed_url(
    tmp_path: Path,
    fresh_postgres_url: str,
    redis_url: str,
    s3_server: S3Server,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from redis import Redis

    url = redis_db_url(redis_url, db=12)
    Redis.from_url(url).flushdb()
    env = s3_env(s3_server, bucket)
    farm = Farm(tmp_path, fresh_postgres_url, url, **env)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    farm.start_worker("gpu-1")
    try:
        with Studio.local(tmp_path / "app-data", **farm.settings()) as studio:
            pid = studio.create_project("Kite", height=96, fps=12).id
            assert pid is not None
            studio.breakdown(pid, SCRIPT)
            jobs = studio.render(pid)
            ids = [j.id for j in jobs]
            done = wait_for(
                lambda: all(studio.job(i).status == "succeeded" for i in ids),
                90,
                "renders on the worker",
                lambda: farm.log("gpu-1"),
            )
            assert done
            film = studio.assemble(pid)  # also rendered by the worker, from S3 takes
            wait_for(
                lambda: studio.job(film.id).status == "succeeded",
                90,
                "film",
                lambda: farm.log("gpu-1"),
            )
            film = studio.job(film.id)
            assert film.artifact_id is not None
            link = studio.download_url(film.artifact_id, filename="Kite.mp4")
            assert link is not None and link.startswith("http")
            with urllib.request.urlopen(link, timeout=10) as response:
                body = response.read()
                assert "Kite.mp4" in response.headers.get("Content-Disposition", "")
            saved = tmp_path / "downloaded.mp4"
            saved.write_bytes(body)
            assert probe(saved).duration > 1
            # The app process never held these files on its own disk: only its download cache.
            assert not (tmp_path / "app-data" / "artifacts").exists()
            tampered = link.replace("Signature=", "Signature=0")
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(tampered, timeout=10)
            assert refused.value.code == 403
    finally:
        farm.stop_all()
        Redis.from_url(url).flushdb()
