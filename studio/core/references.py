"""Reference images of cast members: what is accepted, and the one form they are kept in.

Whatever a creator uploads (a phone JPEG, a PNG with transparency, a WebP) is checked and
turned into the same thing: an RGB PNG at most `REFERENCE_SIDE` pixels on its longer side,
with no metadata. So the same picture always gives the same bytes and the same sha256 (the
render cache and provenance key on it), and a 40-megapixel photo does not travel to every
worker: IP-Adapter image encoders look at 224 pixels anyway. The SDK runs the same function
before uploading, so what crosses the network is already small.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from studio.core.errors import InvalidInput

MAX_REFERENCE_BYTES = 20_000_000  # an upload larger than this is refused before decoding
MAX_REFERENCE_PIXELS = 50_000_000  # a picture with more pixels than this is refused
REFERENCE_SIDE = 1024  # stored references fit in REFERENCE_SIDE × REFERENCE_SIDE
FORMATS = ("PNG", "JPEG", "WEBP")


def normalise_reference(data: bytes, field: str = "image") -> bytes:
    """`data` (PNG, JPEG or WebP) as the PNG the studio keeps; InvalidInput when it is not
    an image of an accepted format, is empty, or is too large in bytes or pixels."""
    if not isinstance(data, bytes | bytearray) or not data:
        raise InvalidInput("The reference image is empty", field)
    if len(data) > MAX_REFERENCE_BYTES:
        raise InvalidInput(
            f"The reference image is {len(data) / 1e6:.1f} MB; the limit is "
            f"{MAX_REFERENCE_BYTES / 1e6:.0f} MB",
            field,
        )
    try:
        with warnings.catch_warnings():
            # Pillow warns (and past twice its limit raises) on decompression bombs: the
            # pixel check below gives the user-facing message instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in FORMATS:
                raise InvalidInput(
                    f"The reference must be a PNG, JPEG or WebP picture, not {image.format}",
                    field,
                )
            width, height = image.size
            if width * height > MAX_REFERENCE_PIXELS:
                raise InvalidInput(
                    f"The reference image is {width}×{height}; the limit is "
                    f"{MAX_REFERENCE_PIXELS / 1e6:.0f} megapixels",
                    field,
                )
            image.load()
    except Image.DecompressionBombError as exc:  # past twice Pillow's own pixel limit
        raise InvalidInput(
            f"The reference image has too many pixels; the limit is "
            f"{MAX_REFERENCE_PIXELS / 1e6:.0f} megapixels",
            field,
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InvalidInput(
            "The reference is not a readable picture (PNG, JPEG or WebP)", field
        ) from exc
    return _as_png(_rgb(image))


def read_picture(image: bytes | str | Path) -> bytes:
    """The bytes of a picture given as bytes or as a file path (a local studio reads it)."""
    if isinstance(image, bytes | bytearray):
        return bytes(image)
    if isinstance(image, str | Path):
        path = Path(image).expanduser()
        if not path.is_file():
            raise InvalidInput(f"No picture file at {path}", "image")
        size = path.stat().st_size
        if size > MAX_REFERENCE_BYTES:  # before reading it all into memory
            raise InvalidInput(
                f"{path.name} is {size / 1e6:.1f} MB; the limit is "
                f"{MAX_REFERENCE_BYTES / 1e6:.0f} MB",
                "image",
            )
        return path.read_bytes()
    raise InvalidInput("The reference must be a picture's bytes or a file path", "image")


def _rgb(image: Image.Image) -> Image.Image:
    """RGB, with transparency laid on white (a cut-out character keeps a plain background)."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _as_png(image: Image.Image) -> bytes:
    image.thumbnail((REFERENCE_SIDE, REFERENCE_SIDE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
