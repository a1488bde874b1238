"""S3 (or any S3-compatible server) storage, with a local download cache.

boto3 is imported when an `S3Storage` is built, never by `import storage`.

Keys are the studio's own (checked with `check_key`) and live under an optional `prefix`
in the bucket. Artifact keys are content addressed (`artifacts/ab/<sha256>.png`): the bytes
under such a key never change, which lets this backend

- skip an upload in `put_file` when the object already exists with the same size, and
- serve `local_path` from a cached download without asking S3 again.

Any other key (the `.json` provenance sidecars above all) is always written and always
downloaded afresh.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, NoReturn
from urllib.parse import quote

from storage.base import InvalidKeyError, StorageError, check_key

_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9/_.-]{0,200}")
_CONTENT_ADDRESSED = re.compile(r"[0-9a-f]{64}\.[a-z0-9]{1,8}")
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_DENIED = {
    "403",
    "AccessDenied",
    "Forbidden",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
}
MAX_EXPIRES = 7 * 24 * 3600  # the SigV4 limit for presigned URLs


def is_content_addressed(key: str) -> bool:
    """True for keys named `<sha256><suffix>`, whose bytes never change."""
    return _CONTENT_ADDRESSED.fullmatch(key.rsplit("/", 1)[-1]) is not None


class S3Storage:
    """Objects in one S3 bucket (under `prefix`); downloads cached in `cache_dir`.

    Credentials: `access_key_id`/`secret_access_key` when given, else boto3's standard chain
    (environment, shared config, instance or task role). `endpoint_url` points at an
    S3-compatible server (SeaweedFS, MinIO, R2...) and switches to path-style addressing.

    `url()` hands out time-limited presigned GET URLs, or `cdn_base_url + "/" + key` when a
    CDN is configured. Such a CDN must be set up for *private* access to the bucket (e.g.
    CloudFront with Origin Access Control); the URL itself carries no signature.

    `public_endpoint_url` is where browsers reach the same server when the studio's own
    address for it is private (a Compose service name such as `http://seaweedfs:8333`):
    URLs are signed for that address, since SigV4 signs the host.
    """

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        cdn_base_url: str | None = None,
        public_endpoint_url: str | None = None,
        cache_dir: Path,
        multipart_threshold: int = 64 * 2**20,
        multipart_chunksize: int = 16 * 2**20,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        max_attempts: int = 5,
        client: Any = None,
    ) -> None:
        if not bucket:
            raise ValueError("S3Storage needs a bucket name")
        prefix = prefix.strip("/")
        if prefix and (
            not _PREFIX.fullmatch(prefix) or any(p in ("", ".", "..") for p in prefix.split("/"))
        ):
            raise ValueError(f"Invalid S3 key prefix: {prefix!r}")
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint_url = endpoint_url
        self.region = region
        self.cdn_base_url = cdn_base_url.rstrip("/") if cdn_base_url else None
        self.cache_dir = Path(cache_dir).expanduser().resolve()
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        # Kept only to scrub it from error messages, should a library ever echo it.
        self._secret = secret_access_key

        from boto3.s3.transfer import TransferConfig

        self._max_attempts = max_attempts
        self._timeouts = (connect_timeout, read_timeout)
        self._transfer = TransferConfig(
            multipart_threshold=multipart_threshold, multipart_chunksize=multipart_chunksize
        )
        if client is None:
            client = self._client(endpoint_url, access_key_id, secret_access_key)
        self.client = client
        # Presigning is local (no request is sent), so a second client that only signs for
        # the public address costs nothing at run time.
        self._signer = client
        if public_endpoint_url and public_endpoint_url != endpoint_url:
            self._signer = self._client(public_endpoint_url, access_key_id, secret_access_key)

    def _client(self, endpoint_url: str | None, key_id: str | None, secret: str | None) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(
            s3={"addressing_style": "path"} if endpoint_url else None,
            signature_version="s3v4",
            retries={"max_attempts": self._max_attempts, "mode": "standard"},
            connect_timeout=self._timeouts[0],
            read_timeout=self._timeouts[1],
        )
        # One session per client: sessions are not thread-safe, clients are.
        return boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=self.region,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            config=config,
        )

    def __repr__(self) -> str:
        where = self.endpoint_url or "AWS"
        return f"S3Storage(bucket={self.bucket!r}, prefix={self.prefix!r}, endpoint={where!r})"

    # ---- keys and paths ------------------------------------------------------------------

    def object_key(self, key: str) -> str:
        """The key in the bucket: `prefix/key` (the key checked first)."""
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _cache_path(self, name: str) -> Path:
        path = (self.cache_dir / name).resolve()
        if not path.is_relative_to(self.cache_dir):  # symlinks inside the cache
            raise InvalidKeyError(f"Key {name!r} resolves outside the cache directory")
        return path

    # ---- the Storage protocol ------------------------------------------------------------

    def put_file(self, key: str, source: Path, content_type: str) -> None:
        """Upload `source` (multipart above `multipart_threshold`); S3 puts are atomic.

        A content-addressed key that already holds an object of the same size is left as is.
        """
        name = self.object_key(key)
        size = Path(source).stat().st_size
        if is_content_addressed(key) and self._size(name, key) == size:
            return
        with self._errors("upload", key):
            self.client.upload_file(
                str(source),
                self.bucket,
                name,
                ExtraArgs={"ContentType": content_type},
                Config=self._transfer,
            )

    def put_bytes(self, key: str, data: bytes, content_type: str, *, durable: bool = True) -> None:
        name = self.object_key(key)  # an acknowledged S3 upload is durable: no choice to make
        with self._errors("upload", key):
            self.client.put_object(
                Bucket=self.bucket, Key=name, Body=data, ContentType=content_type
            )

    def open(self, key: str) -> BinaryIO:
        """A seekable local file: the object is downloaded (or taken from the cache) first."""
        return self.local_path(key).open("rb")

    def exists(self, key: str) -> bool:
        return self._size(self.object_key(key), key) is not None

    def delete(self, key: str) -> None:
        """Delete the object and any cached copy (deleting a missing key is not an error)."""
        name = self.object_key(key)
        with self._errors("delete", key):
            self.client.delete_object(Bucket=self.bucket, Key=name)
        self._cache_path(name).unlink(missing_ok=True)

    def local_path(self, key: str) -> Path:
        """A cached download of the object, under `cache_dir/<prefix>/<key>`.

        Content-addressed keys are downloaded once; other keys every time. Downloads go to a
        temporary file that replaces the cached one atomically.
        """
        name = self.object_key(key)
        target = self._cache_path(name)
        if is_content_addressed(key) and target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        os.close(fd)
        try:
            with self._errors("download", key):
                self.client.download_file(self.bucket, name, tmp, Config=self._transfer)
            _seal(tmp)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def ping(self) -> None:
        with self._errors("ping", None):
            self.client.head_bucket(Bucket=self.bucket)

    # ---- URLs ------------------------------------------------------------------------------

    def url(self, key: str, expires: int = 3600, filename: str | None = None) -> str:
        """A URL that lets a browser GET the object.

        Without a CDN: a presigned URL valid for `expires` seconds (at most 7 days); with
        `filename` the response is an attachment under that name. With `cdn_base_url`:
        `cdn_base_url/<prefix>/<key>` (no expiry, no filename; the CDN guards the bucket).
        """
        name = self.object_key(key)
        if self.cdn_base_url:
            return f"{self.cdn_base_url}/{name}"
        if not 1 <= expires <= MAX_EXPIRES:
            raise ValueError(f"expires must be between 1 and {MAX_EXPIRES} seconds")
        params = {"Bucket": self.bucket, "Key": name}
        if filename is not None:
            params["ResponseContentDisposition"] = content_disposition(filename)
        with self._errors("presign", key):
            url: str = self._signer.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=expires
            )
        return url

    # ---- errors ----------------------------------------------------------------------------

    def _size(self, name: str, key: str) -> int | None:
        """The object's size, None when there is none."""
        try:
            with self._errors("head", key):
                head = self.client.head_object(Bucket=self.bucket, Key=name)
        except _NotFound:
            return None
        size: int = head["ContentLength"]
        return size

    @contextmanager
    def _errors(self, action: str, key: str | None) -> Iterator[None]:
        """Turn boto3/botocore failures into StorageError with a message fit for a user."""
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except (BotoCoreError, ClientError, Boto3Error) as exc:
            # upload_file wraps a ClientError in S3UploadFailedError; look underneath.
            cause: BaseException = exc
            while not isinstance(cause, ClientError) and cause.__context__ is not None:
                cause = cause.__context__
            self._fail(action, key, exc, cause if isinstance(cause, ClientError) else None)

    def _fail(self, action: str, key: str | None, exc: Exception, client_error: Any) -> NoReturn:
        where = f"bucket {self.bucket!r} at {self.endpoint_url or 'AWS S3'}"
        if client_error is not None:
            error = client_error.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = client_error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in _NOT_FOUND and key is not None:
                raise _NotFound(f"No object stored under {key!r}") from exc
            if code == "NoSuchBucket":
                raise StorageError(f"S3 {where}: the bucket does not exist") from exc
            if code in _NOT_FOUND and key is None:  # HEAD: a bare 404, from S3 or not
                message = f"S3 {where}: the bucket does not exist (or this is no S3 endpoint)"
                raise StorageError(message) from exc
            if code in _DENIED or status == 403:
                detail = f"access denied ({code}); check the credentials and the bucket policy"
            else:
                detail = f"{code or status}: {error.get('Message', '')}".rstrip(": ")
        else:
            detail = str(exc)
        target = f" of {key!r}" if key else ""
        message = f"S3 {action}{target} failed for {where}: {detail}"
        raise StorageError(self._scrub(message)) from exc

    def _scrub(self, message: str) -> str:
        if self._secret and len(self._secret) >= 8:
            return message.replace(self._secret, "***")
        return message


class _NotFound(StorageError):
    """No object under the key (a StorageError, like LocalStorage's)."""


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback name and the exact name per RFC 6266/5987."""
    name = filename.replace("/", "_").replace("\\", "_")
    fallback = "".join(c if 32 <= ord(c) < 127 and c != '"' else "_" for c in name) or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _seal(path: str) -> None:
    """Make a finished download durable (a cached copy is trusted) and readable (mkstemp: 0600).

    A fixed mode rather than the umask: reading the umask means setting it, which races with
    other threads creating files.
    """
    os.chmod(path, 0o644)
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
