"""Local-disk storage under one root directory."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO

from storage.base import InvalidKeyError, StorageError, check_key


class LocalStorage:
    def __init__(self, root: Path | str):
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._root_text = str(self.root)

    def _path(self, key: str) -> Path:
        # Defence in depth: even a valid-looking key must not leave the root (symlinks). The
        # root is resolved once; the key's own components cost one lstat each, and only a
        # path with a symlink among them is resolved in full. Resolving every path walked
        # each component from / in Python: ~50 µs a call, three calls an artifact.
        path = self._root_text
        for part in check_key(key).split("/"):
            path = f"{path}/{part}"
            try:
                mode = os.lstat(path).st_mode
            except (FileNotFoundError, NotADirectoryError):
                break  # nothing exists below here, so no link either
            if stat.S_ISLNK(mode):
                return self._resolved(key)
        return Path(f"{self._root_text}/{key}")

    def _resolved(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise InvalidKeyError(f"Key {key!r} resolves outside the storage root")
        return path

    def _temp_beside(self, target: Path) -> tuple[int, str]:
        """A new temp file in `target`'s folder, made (with its parents) when missing: one
        call where the folder exists, as it mostly does (content keys share 256 folders)."""
        try:
            return tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        except FileNotFoundError:
            target.parent.mkdir(parents=True, exist_ok=True)
            return tempfile.mkstemp(dir=target.parent, prefix=".incoming-")

    def put_file(self, key: str, source: Path, content_type: str) -> None:
        target = self._path(key)
        fd, tmp = self._temp_beside(target)
        os.close(fd)
        try:
            shutil.copyfile(source, tmp)
            with open(tmp, "rb") as copied:
                _seal(copied)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_bytes(self, key: str, data: bytes, content_type: str, *, durable: bool = True) -> None:
        target = self._path(key)
        fd, tmp = self._temp_beside(target)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                _seal(handle, durable)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def open(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except FileNotFoundError as exc:
            raise StorageError(f"No object stored under {key!r}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def local_path(self, key: str) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise StorageError(f"No object stored under {key!r}")
        return path

    def url(self, key: str, expires: int = 3600, filename: str | None = None) -> str:
        return self.local_path(key).as_uri()

    def ping(self) -> None:
        if not os.access(self.root, os.W_OK):
            raise StorageError(f"Storage root {self.root} is not writable")


def _read_umask() -> int:
    # Reading the umask means setting it; do it once at import, before any threads start.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _seal(handle: BinaryIO, durable: bool = True) -> None:
    """Make a finished temp file readable like any other file (mkstemp is 0600) and, unless
    told otherwise, durable (an fsync: the one disk flush an artifact costs). On the open
    file: no second lookup or open of its path."""
    os.fchmod(handle.fileno(), 0o666 & ~_UMASK)
    if durable:
        os.fsync(handle.fileno())
