"""Short-lived signed download links: bound to one artifact and its owner, with an expiry.

`/files/<id>/<name>?exp=<unix time>&sig=<hmac>` works without a login until it expires, so
a creator can hand a take to a player or a colleague; changing the id, owner, expiry or file
name breaks the signature (the name is signed too: a link cannot be re-served under a name
of the holder's choosing, such as `page.html`)."""

from __future__ import annotations

import hashlib
import hmac
import time


def _mac(secret: str, artifact_id: int, owner: str, expires: int, filename: str) -> str:
    # The name last and length-prefixed by nothing else: ids, owners and expiries hold no ":".
    message = f"{artifact_id}:{owner}:{expires}:{filename}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def sign(secret: str, artifact_id: int, owner: str, seconds: int, filename: str) -> tuple[int, str]:
    """(expiry, signature) for a link valid for `seconds` at most, and at least 90 % of it.
    The expiry is rounded down to a step (a minute for links of 10 minutes or more), so the
    links signed for one file within that step are the same: a page that shows a take again
    (a tab's refresh) hands the browser the same address, which neither reloads the video
    nor replaces the buttons beside it while they are being clicked."""
    step = max(1, min(60, int(seconds) // 10))
    expires = (int(time.time()) + int(seconds)) // step * step
    return expires, _mac(secret, artifact_id, owner, expires, filename)


def valid(
    secret: str, artifact_id: int, owner: str, expires: int, filename: str, signature: str
) -> bool:
    if expires < time.time():
        return False
    expected = _mac(secret, artifact_id, owner, expires, filename)
    return hmac.compare_digest(expected, signature or "")
