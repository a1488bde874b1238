"""Chinese, Japanese and Korean text drawn into pictures has its letters, not empty boxes:
storyboard panels, title cards and burned-in subtitles.

Pillow's own font draws every CJK character as the same empty box, so two different CJK
strings of the same length draw the same picture; with a CJK font they differ."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from pipelines.draft import DraftPipeline
from pipelines.fonts import cjk_font, cjk_font_path, needs_cjk
from pipelines.requests import RenderRequest
from studio.film.edits import title_card
from studio.film.subtitles import Captions, Cue
from tests.conftest import require_service


@pytest.fixture(autouse=True)
def a_cjk_font() -> None:
    require_service("CJK font", cjk_font_path())


def _glyph(font: ImageFont.FreeTypeFont | ImageFont.ImageFont, char: str) -> np.ndarray:
    image = Image.new("L", (40, 40))
    ImageDraw.Draw(image).text((4, 4), char, font=font, fill=255)
    return np.asarray(image)


def test_the_default_font_draws_boxes_and_the_cjk_font_letters() -> None:
    default, cjk = ImageFont.load_default(size=24), cjk_font(24)
    assert cjk is not None
    assert np.array_equal(_glyph(default, "東"), _glyph(default, "京"))  # the same box
    assert not np.array_equal(_glyph(cjk, "東"), _glyph(cjk, "京"))
    assert needs_cjk("東京の夜") and needs_cjk("한국어") and not needs_cjk("Tokyo, night")


def _caption_strip(prompt: str) -> np.ndarray:
    panel = DraftPipeline().render_frame(RenderRequest(prompt=prompt, width=320, height=180))
    return np.asarray(panel)[-30:]  # the caption bar along the bottom


def test_a_storyboard_panel_captions_a_japanese_prompt_with_its_letters() -> None:
    # Same length, different characters: boxes would make the two strips identical.
    assert not np.array_equal(_caption_strip("東京の夜の雨"), _caption_strip("大阪の朝の海"))
    # Kana keep their voicing marks (が is not folded to か).
    assert not np.array_equal(_caption_strip("がっこう"), _caption_strip("かっこう"))


def test_a_cjk_title_card_and_subtitles_show_their_letters() -> None:
    assert not np.array_equal(title_card("東京物語", 320, 180), title_card("大阪物語", 320, 180))
    cues = [Cue(0.0, 1.0, "잘 지냈어요?"), Cue(1.0, 2.0, "안 지냈어요?")]
    captions = Captions(cues, 320, 180)
    assert captions.warnings == () or all("CJK" not in w for w in captions.warnings)
    frame = np.zeros((180, 320, 3), np.uint8)
    assert not np.array_equal(captions.draw(frame, 0.5), captions.draw(frame, 1.5))
    # A long line without spaces wraps between characters instead of running off the frame.
    long = Captions([Cue(0.0, 1.0, "東" * 40)], 320, 180)
    drawn = long.draw(frame, 0.5)
    assert drawn[:, :4].max() == 0 and drawn[:, -4:].max() == 0  # nothing at the edges
