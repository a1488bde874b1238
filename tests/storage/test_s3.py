"""S3Storage against a real S3-compatible server that checks signatures (SeaweedFS by default).

Each test gets a fresh bucket. The server comes from the `s3_server` fixture.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from storage import InvalidKeyError, Storage, StorageError, content_key
from storage.s3 import S3Storage, content_disposition, is_content_addressed
from tests.services import S3Server

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MiB = 2**20


def _client(server: S3Server, **kw: Any) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=server.endpoint_url,
        region_name=server.region,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4", **kw),
    )


@pytest.fixture(scope="module")
def admin(s3_server: S3Server) -> Any:
    """A boto3 client that acts on the server directly (behind the storage's back)."""
    return _client(s3_server)


@pytest.fixture
def bucket(admin: Any) -> Iterator[str]:
    name = f"studio-test-{os.urandom(5).hex()}"
    admin.create_bucket(Bucket=name)
    yield name
    for page in admin.get_paginator("list_objects_v2").paginate(Bucket=name):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            admin.delete_objects(Bucket=name, Delete={"Objects": keys})
    admin.delete_bucket(Bucket=name)


@pytest.fixture
def make_store(s3_server: S3Server, bucket: str, tmp_path: Path) -> Callable[..., S3Storage]:
    def make(**kw: Any) -> S3Storage:
        options: dict[str, Any] = {
            "endpoint_url": s3_server.endpoint_url,
            "region": s3_server.region,
            "access_key_id": s3_server.access_key,
            "secret_access_key": s3_server.secret_key,
            "cache_dir": tmp_path / "cache",
        }
        options.update(kw)
        return S3Storage(options.pop("bucket", bucket), **options)

    return make


@pytest.fixture
def store(make_store: Callable[..., S3Storage]) -> S3Storage:
    return make_store()


def _count_calls(store: S3Storage) -> dict[str, int]:
    """Count the S3 operations the storage's client sends, by operation name."""
    calls: dict[str, int] = {}

    def record(model: Any, **_: Any) -> None:
        calls[model.name] = calls.get(model.name, 0) + 1

    store.client.meta.events.register("before-call.s3", record)
    return calls


def _key(data: bytes, suffix: str = ".png") -> str:
    return content_key(hashlib.sha256(data).hexdigest(), suffix)


def _get(url: str) -> tuple[int, bytes, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: connecting is refused


# ---- round trips -------------------------------------------------------------------------


def test_is_a_storage(store: S3Storage) -> None:
    assert isinstance(store, Storage)
    store.ping()


def test_round_trip(store: S3Storage, admin: Any, bucket: str, tmp_path: Path) -> None:
    key = _key(b"frame")
    store.put_bytes(key, b"frame", "image/png")
    assert store.exists(key)
    with store.open(key) as handle:
        assert handle.read() == b"frame"
    assert admin.head_object(Bucket=bucket, Key=key)["ContentType"] == "image/png"

    source = tmp_path / "clip.mp4"
    source.write_bytes(b"moving pictures")
    clip = _key(b"moving pictures", ".mp4")
    store.put_file(clip, source, "video/mp4")
    assert admin.head_object(Bucket=bucket, Key=clip)["ContentType"] == "video/mp4"
    local = store.local_path(clip)
    assert local.read_bytes() == b"moving pictures"
    assert local.is_relative_to(tmp_path / "cache")
    assert not list(local.parent.glob(".incoming-*"))
    assert local.stat().st_mode & 0o777 == 0o644

    store.delete(clip)
    assert not store.exists(clip)
    assert not local.exists()  # the cached copy goes too
    store.delete(clip)  # deleting twice is fine
    for call in (store.open, store.local_path):
        with pytest.raises(StorageError, match="No object stored under"):
            call(clip)


def test_local_path_is_cached_for_content_addressed_keys(
    store: S3Storage, admin: Any, bucket: str
) -> None:
    key = _key(b"still")
    store.put_bytes(key, b"still", "image/png")
    calls = _count_calls(store)
    first = store.local_path(key)
    downloads = calls.get("GetObject", 0)
    assert downloads >= 1
    admin.delete_object(Bucket=bucket, Key=key)  # behind the storage's back
    assert store.local_path(key) == first
    assert first.read_bytes() == b"still"
    with store.open(key) as handle:
        assert handle.read() == b"still"
    assert calls.get("GetObject", 0) == downloads  # no second download


def test_json_sidecars_are_downloaded_every_time(store: S3Storage, admin: Any, bucket: str) -> None:
    key = _key(b"still") + ".json"
    store.put_bytes(key, b'{"seed": 1}', "application/json")
    assert store.local_path(key).read_bytes() == b'{"seed": 1}'
    admin.put_object(Bucket=bucket, Key=key, Body=b'{"seed": 2}')
    assert store.local_path(key).read_bytes() == b'{"seed": 2}'
    admin.delete_object(Bucket=bucket, Key=key)
    with pytest.raises(StorageError, match="No object stored under"):
        store.local_path(key)


def test_put_file_skips_an_existing_content_addressed_object(
    store: S3Storage, tmp_path: Path
) -> None:
    source = tmp_path / "frame.png"
    source.write_bytes(b"frame")
    key = _key(b"frame")
    calls = _count_calls(store)
    store.put_file(key, source, "image/png")
    assert calls.get("PutObject") == 1
    store.put_file(key, source, "image/png")
    assert calls.get("PutObject") == 1  # same size under a content key: not sent again
    store.put_file("films/cut.png", source, "image/png")
    store.put_file("films/cut.png", source, "image/png")
    assert calls.get("PutObject") == 3  # other keys are always written


def test_prefixes_isolate_storages(
    make_store: Callable[..., S3Storage], admin: Any, bucket: str
) -> None:
    one, two = make_store(prefix="studio/one/"), make_store(prefix="studio/two")
    key = _key(b"one")
    one.put_bytes(key, b"one", "image/png")
    assert one.exists(key) and not two.exists(key)
    with pytest.raises(StorageError, match="No object stored under"):
        two.local_path(key)
    two.put_bytes(key, b"two", "image/png")
    assert one.local_path(key).read_bytes() == b"one"
    assert two.local_path(key).read_bytes() == b"two"
    two.delete(key)
    assert one.exists(key)
    listed = admin.list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == [f"studio/one/{key}"]


def test_large_files_are_uploaded_in_parts(
    make_store: Callable[..., S3Storage], admin: Any, bucket: str, tmp_path: Path
) -> None:
    store = make_store(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    data = os.urandom(12 * MiB)
    source = tmp_path / "film.mp4"
    source.write_bytes(data)
    key = _key(data, ".mp4")
    store.put_file(key, source, "video/mp4")
    head = admin.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-3")  # 5 + 5 + 2 MiB
    assert head["ContentType"] == "video/mp4"
    fetched = store.local_path(key)
    assert hashlib.sha256(fetched.read_bytes()).digest() == hashlib.sha256(data).digest()


# ---- URLs --------------------------------------------------------------------------------


def test_presigned_url_downloads(store: S3Storage) -> None:
    key = _key(b"frame")
    store.put_bytes(key, b"frame", "image/png")
    status, body, headers = _get(store.url(key, expires=60))
    assert (status, body) == (200, b"frame")
    assert headers["Content-Type"] == "image/png"

    status, body, headers = _get(store.url(key, filename="Shot 1 – “take”.png"))
    assert (status, body) == (200, b"frame")
    disposition = headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="Shot 1 _ _take_.png"')
    assert "filename*=UTF-8''Shot%201%20%E2%80%93%20%E2%80%9Ctake%E2%80%9D.png" in disposition


def test_links_signed_for_the_public_address(
    make_store: Callable[..., S3Storage], s3_server: S3Server
) -> None:
    """The studio reaches S3 at one address, browsers at another (Compose: a service name
    inside, 127.0.0.1 on the host): links must name and be signed for the browsers' one."""
    inside = urlsplit(s3_server.endpoint_url)
    public = inside._replace(netloc=f"localhost:{inside.port}").geturl()
    store = make_store(public_endpoint_url=public)
    key = _key(b"frame")
    store.put_bytes(key, b"frame", "image/png")
    url = store.url(key, filename="take.png")
    assert urlsplit(url).netloc == f"localhost:{inside.port}"
    assert _get(url)[:2] == (200, b"frame")
    # Re-pointed at the studio's own address, the signature no longer matches.
    assert _get(urlsplit(url)._replace(netloc=inside.netloc).geturl())[0] == 403


def test_tampered_urls_are_refused(store: S3Storage) -> None:
    key, other = _key(b"frame"), _key(b"other")
    store.put_bytes(key, b"frame", "image/png")
    store.put_bytes(other, b"other", "image/png")
    url = store.url(key)
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    signature = query["X-Amz-Signature"]
    query["X-Amz-Signature"] = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    tampered = parts._replace(query=urlencode(query)).geturl()
    assert _get(tampered)[0] == 403
    moved = parts._replace(path=parts.path.replace(key, other)).geturl()
    assert moved != url
    assert _get(moved)[0] == 403
    longer = dict(parse_qsl(parts.query), **{"X-Amz-Expires": "7200"})
    assert _get(parts._replace(query=urlencode(longer)).geturl())[0] == 403
    assert _get(url)[0] == 200


def test_expired_url_is_refused(store: S3Storage) -> None:
    key = _key(b"frame")
    store.put_bytes(key, b"frame", "image/png")
    url = store.url(key, expires=1)
    time.sleep(2)
    assert _get(url)[0] == 403


def test_url_checks_expires(store: S3Storage) -> None:
    for expires in (0, -5, 7 * 24 * 3600 + 1):
        with pytest.raises(ValueError, match="expires"):
            store.url("a/b.png", expires=expires)


def test_cdn_urls(make_store: Callable[..., S3Storage]) -> None:
    store = make_store(prefix="studio", cdn_base_url="https://cdn.example.com/media/")
    key = _key(b"frame")
    expected = f"https://cdn.example.com/media/studio/{key}"
    assert store.url(key) == expected
    assert store.url(key, expires=5, filename="a.png") == expected


def test_content_disposition() -> None:
    assert content_disposition("take.png") == (
        "attachment; filename=\"take.png\"; filename*=UTF-8''take.png"
    )
    assert content_disposition('a"b/c\\d\n.png').startswith('attachment; filename="a_b_c_d_.png"')
    assert content_disposition("").startswith('attachment; filename="download"')


# ---- refusals and failures ---------------------------------------------------------------


class _NoCalls:
    """A client that fails the test on any use."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the client was used: {name}")


@pytest.mark.parametrize("key", ["../x", "/abs", "a//b", "a/./b", "A.png", "", "a b", "a\\b"])
def test_invalid_keys_are_refused_before_any_request(key: str, tmp_path: Path) -> None:
    store = S3Storage("bucket", cache_dir=tmp_path / "cache", client=_NoCalls())
    source = tmp_path / "f"
    source.write_bytes(b"x")
    calls: list[Callable[[], object]] = [
        lambda: store.put_file(key, source, "image/png"),
        lambda: store.put_bytes(key, b"x", "image/png"),
        lambda: store.open(key),
        lambda: store.exists(key),
        lambda: store.delete(key),
        lambda: store.local_path(key),
        lambda: store.url(key),
    ]
    for call in calls:
        with pytest.raises(InvalidKeyError):
            call()
    assert not list((tmp_path / "cache").iterdir())


@pytest.mark.parametrize("prefix", ["..", "a/../b", "a b", "-x", "a//b"])
def test_invalid_prefixes_are_refused(prefix: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="prefix"):
        S3Storage("bucket", prefix=prefix, cache_dir=tmp_path, client=_NoCalls())


def test_unreachable_endpoint_fails_fast(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    store = S3Storage(
        "films",
        endpoint_url=endpoint,
        access_key_id="AKEXAMPLE",
        secret_access_key="not-used",
        cache_dir=tmp_path / "cache",
        connect_timeout=1,
        max_attempts=1,
    )
    source = tmp_path / "f.png"
    source.write_bytes(b"x")
    key = _key(b"x")
    started = time.monotonic()
    calls: list[Callable[[], object]] = [
        store.ping,
        lambda: store.exists(key),
        lambda: store.put_bytes(key, b"x", "image/png"),
        lambda: store.put_file(key, source, "image/png"),
        lambda: store.local_path(key),
    ]
    for call in calls:
        with pytest.raises(StorageError) as failure:
            call()
        assert "'films'" in str(failure.value) and endpoint in str(failure.value)
    assert time.monotonic() - started < 10
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


def test_wrong_secret_key_is_refused_without_leaking_it(
    make_store: Callable[..., S3Storage], bucket: str, admin: Any
) -> None:
    secret = "Wr0ngSecretKeyThatMustNotAppear" + os.urandom(6).hex()
    store = make_store(secret_access_key=secret, max_attempts=1)
    key = _key(b"frame")
    admin.put_object(Bucket=bucket, Key=key, Body=b"frame")
    calls: list[Callable[[], object]] = [
        store.ping,
        lambda: store.exists(key),
        lambda: store.put_bytes(key, b"frame", "image/png"),
        lambda: store.local_path(key),
    ]
    for call in calls:
        with pytest.raises(StorageError) as failure:
            call()
        message = str(failure.value)
        assert secret not in message and secret not in repr(failure.value)
        assert bucket in message and "access denied" in message
    # A presigned URL signed with the wrong secret is refused by the server.
    assert _get(store.url(key))[0] == 403


def test_missing_bucket_is_named(make_store: Callable[..., S3Storage]) -> None:
    store = make_store(bucket="studio-test-no-such-bucket")
    for call in (store.ping, lambda: store.put_bytes("a/b.png", b"x", "image/png")):
        with pytest.raises(StorageError, match=r"'studio-test-no-such-bucket'.*does not exist"):
            call()
    assert not store.exists("a/b.png")


def test_content_addressed_keys() -> None:
    sha = hashlib.sha256(b"x").hexdigest()
    assert is_content_addressed(content_key(sha, ".png"))
    assert is_content_addressed(sha + ".mp4")
    assert not is_content_addressed(content_key(sha, ".png") + ".json")
    assert not is_content_addressed("films/cut.mp4")


def test_import_storage_does_not_import_boto3() -> None:
    code = (
        "import sys, storage\n"
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules\n"
        "from storage import S3Storage\n"
        "assert S3Storage.__module__ == 'storage.s3'\n"
        "assert 'boto3' not in sys.modules\n"
        "print('OK')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "OK"
