"""Short-lived signed download links: bound to one artifact and its owner, with an expiry.

`/files/<id>/<name>?exp=<unix time>&sig=<hmac>` works without a login until it expires, so
a creator can hand a take to a player or a colleague; changing the id, owner or expiry
breaks the signature."""

from __future__ import annotations

import hashlib
import hmac
import time


def _mac(secret: str, artifact_id: int, owner: str, expires: int) -> str:
    message = f"{artifact_id}:{owner}:{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def sign(secret: str, artifact_id: int, owner: str, seconds: int) -> tuple[int, str]:
    expires = int(time.time()) + int(seconds)
    return expires, _mac(secret, artifact_id, owner, expires)


def valid(secret: str, artifact_id: int, owner: str, expires: int, signature: str) -> bool:
    if expires < time.time():
        return False
    return hmac.compare_digest(_mac(secret, artifact_id, owner, expires), signature or "")
