"""Fonts for text drawn into pictures (storyboard panels, title cards, burned-in subtitles)
that have the text's letters.

Pillow's own font covers a small Latin set and DejaVu Sans most alphabets, but neither has
Chinese, Japanese or Korean: such text would be drawn as empty boxes. Text that needs them
is drawn with a CJK font found on the machine: WenQuanYi Micro Hei (Debian's
`fonts-wqy-microhei`, 5 MB, which the images install) or Noto Sans CJK, or the file named
by $STUDIO_FONT_CJK. None found: the caller's usual font (boxes), and `cjk_font` says so.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

CJK_PATHS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),  # Debian, Ubuntu
    Path("/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc"),  # Arch
    Path("/usr/share/fonts/wqy-microhei/wqy-microhei.ttc"),  # Fedora
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),  # Debian fonts-noto-cjk
    Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"),  # Arch
    Path("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc"),  # Fedora
    Path("/System/Library/Fonts/PingFang.ttc"),  # macOS
)

# Unicode blocks of CJK scripts: Hangul Jamo, CJK punctuation, kana, CJK ideographs (and
# extensions), Hangul syllables, compatibility ideographs, full-width forms.
_CJK_RANGES = (
    (0x1100, 0x11FF),
    (0x2E80, 0x2FDF),
    (0x3000, 0x30FF),
    (0x3100, 0x31FF),
    (0x3200, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xA960, 0xA97F),
    (0xAC00, 0xD7AF),
    (0xF900, 0xFAFF),
    (0xFE30, 0xFE4F),
    (0xFF00, 0xFFEF),
    (0x20000, 0x3134F),
)


def is_cjk(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _CJK_RANGES)


def needs_cjk(text: str) -> bool:
    """Whether `text` has a Chinese, Japanese or Korean character."""
    return any(is_cjk(c) for c in text)


def cjk_font_path() -> Path | None:
    """The CJK font file this machine has ($STUDIO_FONT_CJK first), or None."""
    named = os.environ.get("STUDIO_FONT_CJK")
    candidates = (Path(named),) if named else ()
    return next((p for p in (*candidates, *CJK_PATHS) if p.is_file()), None)


@lru_cache(maxsize=64)
def cjk_font(size: int, layout: ImageFont.Layout | None = None) -> ImageFont.FreeTypeFont | None:
    """A CJK font at `size` (it has Latin letters too), or None when the machine has none."""
    path = cjk_font_path()
    if path is None:
        return None
    return ImageFont.truetype(str(path), size, layout_engine=layout)
