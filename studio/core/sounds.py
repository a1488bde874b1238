"""A sound put under a shot (room tone, effects): what is accepted, checked before storing.

Given as a file path or as bytes (the REST API's raw body), it must be an audio file PyAV
decodes, of a kind the film's soundtrack also takes, within `max_audio_bytes`. Bytes are
recognised by their first bytes, not by a name the client chose."""

from __future__ import annotations

from pathlib import Path

from studio.core.errors import InvalidInput
from studio.core.validation import AUDIO_SUFFIXES, audio_file

CONTENT_TYPES = {
    ".aac": "audio/aac",
    ".flac": "audio/flac",
    ".m4a": "audio/mp4",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".wav": "audio/wav",
}


def _suffix_of(data: bytes) -> str | None:
    """The audio kind of `data` from its magic bytes."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return ".wav"
    if data[:4] == b"fLaC":
        return ".flac"
    if data[:4] == b"OggS":
        return ".ogg"
    if data[4:8] == b"ftyp":
        return ".m4a"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        # An MP3 frame sync; ADTS AAC (0xFFF1/0xFFF9) shares it and PyAV reads both.
        return ".aac" if data[1] & 0xF6 == 0xF0 else ".mp3"
    return None


def sound_file(sound: bytes | str | Path, max_bytes: int, folder: Path) -> Path:
    """A checked local audio file of `sound`: a path as it is, bytes written into `folder`."""
    if isinstance(sound, bytes | bytearray):
        if len(sound) > max_bytes:
            raise InvalidInput(
                f"The sound is {len(sound) / 2**20:.1f} MiB; the limit is "
                f"{max_bytes / 2**20:.0f} MiB",
                "sound",
            )
        suffix = _suffix_of(bytes(sound[:16]))
        if suffix is None:
            raise InvalidInput(
                f"The sound is not an audio file ({', '.join(AUDIO_SUFFIXES)})", "sound"
            )
        path = folder / f"sound{suffix}"
        path.write_bytes(bytes(sound))
    elif isinstance(sound, str | Path):
        path = Path(sound).expanduser()
    else:
        raise InvalidInput("A sound is an audio file's path or its bytes", "sound")
    audio_file(path, max_bytes, field="sound")
    return path
