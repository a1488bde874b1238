"""Script → shot list: deterministic, rule based, no models.

Input is a screenplay (plain text or Fountain-ish) or plain prose. Rules, in order:

Lines
- Newlines are normalised; control characters other than newline and tab are stripped
  (form feed / vertical tab / Unicode line separators count as newlines).
- ``#`` section lines, ``=`` synopsis lines, ``[[notes]]`` and ``/* boneyard */`` are ignored.
- Scene headings: a line starting with INT. EXT. INT./EXT. EXT./INT. I/E (any case, optional
  leading scene number) starts a new scene. It is not a shot; it sets ``scene`` (upper-cased)
  and a location/time hint ("INT. HOUSE - KITCHEN - NIGHT" → "house, kitchen, night";
  CONTINUOUS / LATER / SAME are dropped as not visual).
- Transitions (FADE IN:, FADE OUT., CUT TO:, DISSOLVE TO:, any ALL-CAPS "... TO:", THE END)
  are skipped.

Title page
- A Fountain title page ("Title: ...", "Author: ..." up to a blank line), or in a
  screenplay a first block of one ALL-CAPS line, alone or followed by credit lines
  ("Written by", "by", "Based on" and the names after them), is the script's title
  (`script_title`: the film's title card), not a shot. Prose keeps its first line.

Dialogue
- A character cue is an ALL-CAPS line of at most 4 words at the start of a block (after a
  blank line), optionally with (V.O.)/(O.S.)/(CONT'D) etc., followed by a non-blank line.
  The lines up to the next blank line are its dialogue; one cue block = one shot.
- ``dialogue`` is "ANNA: [quietly] Where were you?" (parentheticals in brackets).
- Duration: 1 s + spoken words / 2.5, clamped to 1.5–12 s.
- Default size "close-up" (coverage on the speaker). Off-screen speech (V.O., O.S., O.C.)
  keeps looking at the scene's latest action and defaults to "medium".

Action / prose
- A paragraph (lines up to a blank line, joined) is split into sentences.
- A sentence with an explicit shot size or camera move starts a new shot. Otherwise a
  sentence joins the current shot while that shot has fewer than 3 words ("Silence. Anna
  turns." is one shot), and a short last sentence joins the shot before it.
- A sentence that is only direction ("PUSH IN.") applies to the paragraph's previous shot,
  or to the next shot when nothing precedes it.
- Duration: 2 s + 0.25 s per word, clamped to 2–8 s.

Shot size and camera words (removed from the prompt, with their "a"/"of"/":" filler)
- extreme-close-up: extreme close-up/closeup, ECU, XCU, BCU, EXTREME CLOSE ON.
- extreme-wide: extreme wide/long (shot), aerial shot/view, AERIAL, EWS, ELS.
- close-up: close-up, closeup, CU, MCU / medium close-up, INSERT, "close up"/"close on"
  at sentence start, in capitals, or after "a"/"in".
- medium: medium shot, mid shot, MS, MEDIUM, two shot, over-the-shoulder shot.
- wide: wide shot/angle, long shot, establishing shot, ESTABLISHING, WIDE, "Wide on ...".
  A lowercase "wide" elsewhere ("her eyes go wide") is description, not direction.
- Moves: pan left/right, tilt up/down, dolly in/out/back, push in → dolly-in,
  pull back/out → dolly-out, zoom in/out, tracking shot / TRACKING / follow → dolly-in
  (the camera moves with and toward its subject). A move counts only when its subject is
  the camera ("the camera pans left", "we push in"), it starts the sentence, or it is in
  capitals, so "she pulls back her hand" stays action. Default move: static.
- ANGLE ON / NEW ANGLE / BACK TO SCENE slugs are removed without setting a size.
- The first word of each kind in a shot wins. Without one, the first shot of a scene is
  "wide" (establishing) and later action shots are "medium".

Cast (`find_cast`): every name used as a character cue, and every ALL-CAPS name of one to
three words introduced in an action line with a parenthetical ("MARA (40s, weathered coat)
steps off"): the parenthetical is that member's description, and the action keeps the name
in Title Case ("Mara steps off"), since the description reaches the prompt from the cast.
A shot's characters: the speaker of a dialogue shot; for an action shot, the cast names it
contains as a whole word in capitals or Title Case ("ANNA", "Anna"; not "anna"), in order of
appearance.

Seeds: sha256 over (base_seed, scene, the shot's own source text, how many earlier shots
in the same scene have identical text). Editing, adding or removing another shot leaves a
shot's seed unchanged; identical repeated shots still get different seeds.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from pipelines.requests import CAMERA_MOVES, SHOT_SIZES
from studio.core.errors import InvalidInput

MAX_SCRIPT_CHARS = 200_000
MAX_SHOTS = 500

DIALOGUE_WORDS_PER_SECOND = 2.5
DIALOGUE_DURATION = (1.5, 12.0)
ACTION_DURATION = (2.0, 8.0)
ACTION_SECONDS_PER_WORD = 0.25
MIN_SHOT_WORDS = 3


class ScriptError(InvalidInput):
    """The script cannot be broken down; the message is meant for the user."""

    def __init__(self, message: str):
        super().__init__(message, field="script")


@dataclass(frozen=True)
class CastDraft:
    """A cast member found by the breakdown: its name as written (MARA), the description of
    its introduction, and how many shots it appears in."""

    name: str
    description: str
    shots: int


@dataclass(frozen=True)
class ShotDraft:
    """One shot proposed by the breakdown."""

    scene: str
    prompt: str
    shot_size: str
    camera_move: str
    duration: float
    seed: int
    dialogue: str
    characters: tuple[str, ...]


# ---------------------------------------------------------------------------- text input


def decode_script(data: bytes) -> str:
    """Decode an uploaded script: UTF-8 with or without BOM, newlines normalised to ``\\n``."""
    # A UTF-8 char is at most 4 bytes: anything bigger cannot fit, so don't decode it at all.
    if len(data) > 4 * MAX_SCRIPT_CHARS:
        raise ScriptError(_too_long_message(f"{len(data):,} bytes"))
    bom = b"\xef\xbb\xbf"
    skip = len(bom) if data.startswith(bom) else 0
    try:
        text = data[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + skip
        utf16 = " (it looks like UTF-16)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise ScriptError(
            f"The script is not UTF-8 text{utf16}: byte 0x{data[offset]:02x} at byte offset "
            f"{offset} is invalid. Save the file as UTF-8 and upload it again."
        ) from None
    return _normalise_newlines(text)


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _too_long_message(size: str) -> str:
    return (
        f"The script is too long ({size}); the limit is {MAX_SCRIPT_CHARS:,} characters. "
        "Split it into parts and break them down one at a time."
    )


# Form feed (PDF page breaks), vertical tab and Unicode line separators are line breaks.
_LINE_BREAKS = re.compile(r"[\x0b\x0c\x85\u2028\u2029]")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\ufeff\u200b]")
_NOTES = re.compile(r"\[\[.*?\]\]|/\*.*?\*/", re.DOTALL)


def _clean_input(script: str) -> str:
    text = _LINE_BREAKS.sub("\n", _normalise_newlines(script))
    text = _CONTROL.sub("", text)
    return _NOTES.sub("", text)


# ------------------------------------------------------------------------- line classes

_HEADING = re.compile(
    r"^(?:\d+[A-Z]?\s+)?"
    r"(?P<prefix>INT\.?\s*/\s*EXT|EXT\.?\s*/\s*INT|I\s*/\s*E|INT|EXT)(?:\.|\s)\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
_TRANSITION = re.compile(
    r"^(?:>\s*)?(?:FADE\s+(?:IN|OUT|TO\s+BLACK)|CUT\s+TO\s+BLACK|THE\s+END|INTERCUT|"
    r"(?:[A-Z]+\s+)+TO:)\s*[:.]?$"
)
_TRANSITION_ANY_CASE = re.compile(
    r"^(?:fade\s+(?:in|out)|cut\s+to|dissolve\s+to)\s*[:.]?$", re.IGNORECASE
)
_CUE = re.compile(
    r"^(?P<name>[A-Z][A-Z0-9 .'’&\-]*?)\s*(?P<ext>(?:\([^)]*\)\s*)*)\^?$",
)
_CUE_STOPWORDS = frozenset(
    [
        "ANGLE",
        "CLOSE",
        "WIDE",
        "INSERT",
        "POV",
        "BACK",
        "ON",
        "PUSH",
        "PULL",
        "PAN",
        "TILT",
        "ZOOM",
        "DOLLY",
        "TRACKING",
        "AERIAL",
        "ESTABLISHING",
        "EXTREME",
        "MEDIUM",
        "LATER",
        "MOMENTS",
        "CONTINUOUS",
        "MONTAGE",
        "SERIES",
        "END",
        "SUPER",
        "TITLE",
        "INTERCUT",
        "FLASHBACK",
        "CHAPTER",
        "PART",
        "ACT",
        "SCENE",
        "THE",
    ]
)
_OFFSCREEN = re.compile(r"\b(?:V\.?\s?O|O\.?\s?S|O\.?\s?C|OFF)\b", re.IGNORECASE)
_INLINE_PAREN = re.compile(r"\(\s*([^()]*?)\s*\)")
_NOT_VISUAL_PAREN = frozenset(
    {"beat", "a beat", "pause", "a pause", "continuing", "cont'd", "cont’d", "then"}
)
_NOT_VISUAL_TIME = frozenset(
    {"continuous", "later", "moments later", "same", "same time", "a moment later"}
)


# "MARA (40s, weathered coat)" in an action line; not a cue, which stands on its own line.
_INTRODUCTION = re.compile(
    r"(?<![\w'’])(?P<name>[A-Z][A-Z'’\-]+(?:[ \t]+[A-Z][A-Z'’\-]+){0,2})"
    r"[ \t]*\((?P<description>[^()]{1,300})\)"
)
_NOT_NAMES = frozenset({"INT", "EXT", "CU", "ECU", "MCU", "XCU", "BCU", "EWS", "ELS", "MS", "OS"})


def _introductions(text: str) -> Iterator[tuple[str, str, re.Match[str]]]:
    """(NAME, description, match) for each cast introduction in an action paragraph."""
    for m in _INTRODUCTION.finditer(text):
        name = " ".join(m["name"].split())
        words = name.split()
        description = " ".join(m["description"].split())
        if words[0] in _CUE_STOPWORDS or any(w.strip(".") in _NOT_NAMES for w in words):
            continue
        if _OFFSCREEN.fullmatch(description) or description.upper() in ("CONT'D", "CONT’D"):
            continue
        yield name, description, m


def _introduce(text: str) -> str:
    """An action paragraph with each introduction written as the plain name ("Mara")."""
    for name, _description, m in reversed(list(_introductions(text))):
        text = text[: m.start()] + name.title() + text[m.end() :]
    return text


def _is_transition(line: str) -> bool:
    return bool(_TRANSITION.match(line) or _TRANSITION_ANY_CASE.match(line))


def _cue_name(line: str) -> tuple[str, bool] | None:
    """(NAME, off_screen) when the line looks like a character cue."""
    forced = line.startswith("@")
    m = _CUE.match(line[1:].strip().upper() if forced else line)
    if not m:
        return None
    name = " ".join(m["name"].split())
    words = name.split()
    if not name or len(words) > 4 or len(name) > 32 or name[-1] in ".-'’&":
        return None
    if not forced and (words[0] in _CUE_STOPWORDS or not any(c.isalpha() for c in name)):
        return None
    return name, bool(_OFFSCREEN.search(m["ext"] or ""))


def _scene_hint(rest: str) -> str:
    parts = [p.strip(" .()").lower() for p in re.split(r"\s+[-–—]+\s+|\s*[-–—]{2,}\s*", rest)]
    return ", ".join(p for p in parts if p and p not in _NOT_VISUAL_TIME)


# ---------------------------------------------------------------------------- elements


@dataclass
class _Heading:
    scene: str
    hint: str


@dataclass
class _Action:
    text: str


@dataclass
class _Dialogue:
    name: str
    off_screen: bool
    parts: list[tuple[bool, str]] = field(default_factory=list)  # (is_parenthetical, text)


_Element = _Heading | _Action | _Dialogue


def _heading(line: str) -> _Heading:
    scene = re.sub(r"\s*#[^#]*#$", "", " ".join(line.split()))  # Fountain "#12#"
    if number := re.match(r"(\d+[A-Z]?)\s+", scene, re.IGNORECASE):
        # A printed scene number repeats at the end: "12 INT. HOUSE - DAY 12".
        scene = re.sub(rf"\s+{re.escape(number[1])}$", "", scene[number.end() :])
    match = _HEADING.match(scene)
    return _Heading(scene.upper(), _scene_hint(match["rest"] if match else ""))


def _parse(text: str) -> Iterator[_Element]:
    lines = [ln.strip() for ln in text.split("\n")]
    paragraph: list[str] = []
    block_start = True
    i = 0

    def flush() -> Iterator[_Element]:
        if paragraph:
            yield _Action(" ".join(paragraph))
            paragraph.clear()

    while i < len(lines):
        line = lines[i]
        i += 1
        if not line or line.startswith(("#", "=")):
            yield from flush()
            block_start = True
            continue
        heading = _HEADING.match(line)
        if heading or _is_transition(line):
            yield from flush()
            block_start = True
            if heading:
                yield _heading(line)
            continue
        cue = _cue_name(line) if block_start and not line.startswith("!") else None
        if cue and i < len(lines) and lines[i] and not _HEADING.match(lines[i]):
            yield from flush()
            dialogue = _Dialogue(cue[0], cue[1])
            in_paren = False
            while i < len(lines) and lines[i] and not _HEADING.match(lines[i]):
                part = lines[i]
                i += 1
                if part.upper() in ("(MORE)", "(CONT'D)", "(CONT’D)"):
                    continue
                starts_paren = part.startswith("(")
                is_paren = in_paren or starts_paren
                in_paren = is_paren and not part.endswith(")")
                text_part = part.strip("()").strip() if is_paren else part
                if is_paren and dialogue.parts and dialogue.parts[-1][0] and not starts_paren:
                    dialogue.parts[-1] = (True, f"{dialogue.parts[-1][1]} {text_part}")
                elif text_part:
                    dialogue.parts.append((is_paren, text_part))
            yield dialogue
            block_start = True
            continue
        paragraph.append(line.lstrip("!"))
        block_start = False
    yield from flush()


# ------------------------------------------------------------------ the title page

_FOUNTAIN_KEY = re.compile(
    r"^(?P<key>title|credit|authors?|source|draft date|date|contact|copyright|notes|revision)"
    r"\s*:\s*(?P<value>.*)$",
    re.IGNORECASE,
)
_CREDIT = re.compile(
    r"^(?:(?:written|screenplay|story|teleplay|directed)\s+by|by|based on|draft|adapted)\b",
    re.IGNORECASE,
)


def _blocks(lines: list[str]) -> Iterator[tuple[int, int]]:
    """(first, end) line indexes of each run of non-blank lines."""
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        start = i
        while i < len(lines) and lines[i].strip():
            i += 1
        yield start, i


def _looks_like_title(line: str) -> bool:
    # ALL CAPS, short, not a sentence, not a heading or transition: "THE LAST TRAIN".
    return (
        line.upper() == line
        and any(c.isalpha() for c in line)
        and len(line) <= 80
        and not line.endswith((".", "!", "?", ":", ")"))
        and not _HEADING.match(line)
        and not _is_transition(line)
    )


def _title_page(text: str) -> tuple[str, str]:
    """(the script's title, the text after its title page), or ("", text) without one.

    A Fountain title page ("Title: …", "Credit: …", "Author: …" up to the first blank
    line), or, in a screenplay (a scene heading follows), a first block that is one
    ALL-CAPS line, alone or followed by credit lines ("Written by", "by", "Based on", and
    the names on the lines after them), plus any following blocks that start with a credit.
    Prose keeps its first line: without a scene heading nothing is a title page."""
    lines = text.split("\n")
    blocks = list(_blocks(lines))
    if not blocks:
        return "", text
    first, end = blocks[0]
    block = [ln.strip() for ln in lines[first:end]]
    if _FOUNTAIN_KEY.match(block[0]):
        title: list[str] = []
        in_title = False
        for line, raw in zip(block, lines[first:end], strict=True):
            key = _FOUNTAIN_KEY.match(line)
            if key:
                in_title = key["key"].lower() == "title"
                if in_title and key["value"]:
                    title.append(key["value"])
            elif in_title and raw[:1] in (" ", "\t"):  # an indented continuation
                title.append(line)
        return _tidy_title(" ".join(title)), "\n".join(lines[end:])
    has_heading = any(_HEADING.match(ln.strip()) for ln in lines[end:])
    credits_follow = all(_CREDIT.match(ln) for ln in block[1:2])
    if not (has_heading and _looks_like_title(block[0]) and credits_follow):
        return "", text
    ends_with_credit = bool(_CREDIT.match(block[-1])) and len(block) > 1
    for start, stop in blocks[1:]:
        line = lines[start].strip()
        if not (_CREDIT.match(line) or ends_with_credit) or _HEADING.match(line):
            break
        if _is_transition(line):
            break
        ends_with_credit = bool(_CREDIT.match(lines[stop - 1].strip()))
        end = stop
    return _tidy_title(block[0]), "\n".join(lines[end:])


def _tidy_title(title: str) -> str:
    return " ".join(re.sub(r"[*_]+", "", title).split())[:200]  # Fountain emphasis marks


def script_title(script: str) -> str:
    """The title on the script's title page ("" without one): the film's title card."""
    return _title_page(_clean_input(script))[0]


# ------------------------------------------------------------------ sentences and words

_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "st",
        "jr",
        "sr",
        "prof",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "mt",
        "lt",
        "sgt",
        "capt",
        "col",
        "gen",
        "no",
        "approx",
        "v.o",
        "o.s",
        "o.c",
        "int",
        "ext",
    ]
)
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*\s+")


def _split_sentences(text: str) -> list[str]:
    sentences: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        before = re.search(r"([\w.]+)$", text[start : m.start()])
        word = before.group(1).lower() if before else ""
        dot = m.group().startswith(".") and not m.group().startswith("..")
        if dot and (word.rstrip(".") in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())):
            continue  # "Dr. Smith", "J. Smith"
        nxt = text[m.end() : m.end() + 1]
        if nxt and not (nxt.isupper() or nxt.isdigit() or nxt in "\"'“‘(["):
            continue  # "... and then" continues the sentence
        sentences.append(text[start : m.end()].strip())
        start = m.end()
    if text[start:].strip():
        sentences.append(text[start:].strip())
    return sentences


def _word_count(text: str) -> int:
    return len(re.findall(r"[\w’']+", text))


# ------------------------------------------------------------------- direction words

_PRE = r"(?P<pre>\b(?:an?|the|in(?:\s+an?)?)\s+)?"
_SIZE_TAIL = r"(?:\s+shots?)?(?:\s+(?:of|on|at)\b|\s*[:;,\-–—]+)?"
_SUBJECT = r"(?P<subj>\b(?:the\s+)?camera\s+|\bwe\s+)?(?:(?:slowly|then|quickly|gently)\s+)?"
_ADVERB = r"(?:\b(?:slow|slowly|quick|quickly|gentle|fast)\s+)?"
_MOVE_TAIL = (
    r"(?:\s+(?:to\s+(?:reveal|find|show)s?|on|onto|over|across|past|along|with|"
    r"toward|towards|to|behind)\b)?\s*[:;,\-–—]?"
)

# Guards against ordinary words: "free" needs nothing; "caps" needs capitals; "subject"
# needs capitals or the camera/"we" as subject; "lead" also accepts the sentence start;
# "lead_pre" also accepts an article before it ("a close up").
_Rule = tuple[re.Pattern[str], str | Callable[[re.Match[str]], str], str]


def _size(pattern: str, *, case: bool = False) -> re.Pattern[str]:
    return re.compile(
        # (?![-'’]\w): "MEDIUM-sized", "wide-eyed" are words, not directions.
        _PRE + r"\b(?P<kw>" + pattern + r")\b(?![-'’]\w)" + _SIZE_TAIL,
        0 if case else re.IGNORECASE,
    )


def _move(pattern: str) -> re.Pattern[str]:
    return re.compile(
        _SUBJECT + _ADVERB + r"\b(?P<kw>" + pattern + r")\b" + _MOVE_TAIL, re.IGNORECASE
    )


_SIZE_RULES: list[_Rule] = [
    (
        _size(r"(?:extreme|xtreme)[\s-]+close[\s-]?ups?|extreme\s+close\s+on"),
        "extreme-close-up",
        "free",
    ),
    (_size(r"ECU|XCU|BCU", case=True), "extreme-close-up", "free"),
    (
        _size(r"extreme[\s-]+(?:wide|long)(?:\s+shot)?|aerial\s+(?:shot|view)"),
        "extreme-wide",
        "free",
    ),
    (_size(r"EWS|ELS", case=True), "extreme-wide", "free"),
    (_size(r"AERIAL", case=True), "extreme-wide", "caps"),
    (_size(r"medium[\s-]+close[\s-]?ups?"), "close-up", "free"),
    (_size(r"MCU|CU", case=True), "close-up", "free"),
    (_size(r"close-ups?|closeups?"), "close-up", "free"),
    (_size(r"close\s+(?:up|on)"), "close-up", "lead_pre"),
    (_size(r"insert(?:\s+shot)?"), "close-up", "caps"),
    (
        _size(r"(?:medium|mid)[\s-]+shot|two[\s-]shot|2[\s-]shot|over[\s-]the[\s-]shoulder\s+shot"),
        "medium",
        "free",
    ),
    (_size(r"MS(?!\.)|OTS", case=True), "medium", "free"),
    (_size(r"MEDIUM", case=True), "medium", "caps"),
    (_size(r"wide[\s-]+(?:shot|angle)|long\s+shot|establishing\s+shot"), "wide", "free"),
    (_size(r"ESTABLISHING|WIDE", case=True), "wide", "caps"),
    (_size(r"wide(?=\s+on\b|\s*[:\-–—])"), "wide", "lead"),
]


def _dir(m: re.Match[str], mapping: dict[str, str]) -> str:
    return mapping[m["kw"].split()[-1].lower()]


_MOVE_RULES: list[_Rule] = [
    (
        _move(r"pan(?:s|ning|ned)?\s+(?:to\s+(?:the\s+)?)?(?:left|right)"),
        lambda m: _dir(m, {"left": "pan-left", "right": "pan-right"}),
        "lead",
    ),
    (
        _move(r"tilt(?:s|ing|ed)?\s+(?:up|down)"),
        lambda m: _dir(m, {"up": "tilt-up", "down": "tilt-down"}),
        "lead",
    ),
    (
        _move(r"(?:dolly|dollies|dollying|dollied)\s+(?:in|out|back)"),
        lambda m: _dir(m, {"in": "dolly-in", "out": "dolly-out", "back": "dolly-out"}),
        "lead",
    ),
    (_move(r"push(?:es|ing|ed)?\s+in"), "dolly-in", "lead"),
    (_move(r"pull(?:s|ing|ed)?\s+(?:back|out)"), "dolly-out", "lead"),
    (
        _move(r"zoom(?:s|ing|ed)?\s+(?:in|out)"),
        lambda m: _dir(m, {"in": "zoom-in", "out": "zoom-out"}),
        "lead",
    ),
    (_move(r"tracking\s+shot"), "dolly-in", "free"),
    (_move(r"track(?:s|ing|ed)?|follow(?:s|ing|ed)?"), "dolly-in", "subject"),
]

_SLUG_RULES: list[_Rule] = [
    (
        re.compile(
            r"\b(?P<kw>(?:new\s+|reverse\s+)?angle(?:\s+on)?|back\s+to\s+scene)\b\s*[:;,\-–—]?",
            re.IGNORECASE,
        ),
        "",
        "lead",
    ),
]


@dataclass
class _Direction:
    text: str
    shot_size: str | None
    camera_move: str | None

    @property
    def explicit(self) -> bool:
        return self.shot_size is not None or self.camera_move is not None


def _guard_ok(m: re.Match[str], guard: str, sentence: str, all_caps: bool) -> bool:
    if guard == "free":
        return True
    first = re.search(r"\w", sentence)
    at_start = first is not None and m.start() <= first.start()
    # In an all-caps line capitals mean nothing, so only the line's first word counts there.
    capitals = m["kw"].isupper() and (not all_caps or at_start)
    groups = m.groupdict()
    if guard == "caps":
        return capitals or bool(re.fullmatch(r"insert\s+shot", m["kw"], re.IGNORECASE))
    if guard == "subject":
        return capitals or bool(groups.get("subj"))
    if guard == "lead_pre" and groups.get("pre"):
        return True
    return at_start or capitals or bool(groups.get("subj"))


def _directions(sentence: str) -> _Direction:
    """Find shot-size and camera words in a sentence; return the sentence without them."""
    letters = [c for c in sentence if c.isalpha()]
    all_caps = bool(letters) and all(c.isupper() for c in letters)
    claimed: list[tuple[int, int]] = []
    found: dict[str, tuple[int, str]] = {}
    for kind, rules in (("size", _SIZE_RULES), ("move", _MOVE_RULES), ("slug", _SLUG_RULES)):
        for pattern, value, guard in rules:
            for m in pattern.finditer(sentence):
                span = m.span()
                if span[0] == span[1] or any(s < span[1] and span[0] < e for s, e in claimed):
                    continue
                if not _guard_ok(m, guard, sentence, all_caps):
                    continue
                claimed.append(span)
                result = value if isinstance(value, str) else value(m)
                if kind != "slug" and (kind not in found or span[0] < found[kind][0]):
                    found[kind] = (span[0], result)
    text = sentence
    for start, end in sorted(claimed, reverse=True):
        text = text[:start] + " " + text[end:]
    size = found.get("size", (0, None))[1]
    move = found.get("move", (0, None))[1]
    return _Direction(_tidy(text), size, move)


def _tidy(text: str) -> str:
    text = text.replace("*", "")
    text = re.sub(r"\(\s*\)", "", text)
    text = " ".join(text.split())
    text = re.sub(r"\s+([,.;:!?…])", r"\1", text)
    text = re.sub(r"([,;:\-–—])[,;:\-–—]+", r"\1", text)
    text = re.sub(r"[,;:\-–—]+([.!?])", r"\1", text)
    text = re.sub(r"^[\s,.;:\-–—]+", "", text)
    text = text.strip(" ,;:-–—")
    if not any(c.isalnum() for c in text):
        return ""
    return text[0].upper() + text[1:]


# ------------------------------------------------------------------------- the shots


@dataclass
class _Group:
    texts: list[str]  # cleaned sentence texts
    sources: list[str]  # original sentences (seed input)
    shot_size: str | None = None
    camera_move: str | None = None

    @property
    def words(self) -> int:
        return sum(_word_count(t) for t in self.texts)

    @property
    def explicit(self) -> bool:
        return self.shot_size is not None or self.camera_move is not None

    def add(self, d: _Direction, source: str) -> None:
        if d.text:
            self.texts.append(d.text)
        self.sources.append(source)
        self.shot_size = self.shot_size or d.shot_size
        self.camera_move = self.camera_move or d.camera_move


def _group_paragraph(text: str, pending: _Group | None) -> tuple[list[_Group], _Group | None]:
    """Group a paragraph's sentences into shots; return (shots, direction left pending)."""
    groups: list[_Group] = []
    for sentence in _split_sentences(text):
        d = _directions(sentence)
        if not d.text:  # pure direction: belongs to the shot before, else the one after
            target = groups[-1] if groups else (pending or _Group([], []))
            target.add(d, sentence)
            if not groups:
                pending = target
            continue
        if pending is not None:
            pending.add(d, sentence)
            groups.append(pending)
            pending = None
        elif groups and groups[-1].words < MIN_SHOT_WORDS and not d.explicit:
            groups[-1].add(d, sentence)
        else:
            group = _Group([], [])
            group.add(d, sentence)
            groups.append(group)
    if len(groups) >= 2 and groups[-1].words < MIN_SHOT_WORDS and not groups[-1].explicit:
        last = groups.pop()
        groups[-1].texts += last.texts
        groups[-1].sources += last.sources
    return groups, pending


def _clamp(value: float, bounds: tuple[float, float]) -> float:
    return round(min(max(value, bounds[0]), bounds[1]), 1)


def _seed(base_seed: int, scene: str, source: str, occurrence: int) -> int:
    key = "\x1f".join((str(base_seed), scene, " ".join(source.split()), str(occurrence)))
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 2**31


def _join(*parts: str) -> str:
    return ", ".join(p for p in parts if p)


def _name_pattern(name: str) -> re.Pattern[str]:
    forms = {name, name.title()}
    alternatives = "|".join(r"\s+".join(map(re.escape, f.split())) for f in sorted(forms))
    return re.compile(rf"(?<![\w'’])(?:{alternatives})(?![\w])")


class _Builder:
    def __init__(self, base_seed: int, names: list[str]) -> None:
        self.base_seed = base_seed
        self.name_patterns = [(n, _name_pattern(n)) for n in names]
        self.shots: list[ShotDraft] = []
        self.scene = ""
        self.hint = ""
        self.in_scene = 0
        self.occurrences: dict[tuple[str, str], int] = {}
        self.last_action = ""

    def new_scene(self, heading: _Heading) -> None:
        self.scene, self.hint = heading.scene, heading.hint
        self.in_scene = 0
        self.last_action = ""

    def add(
        self,
        *,
        source: str,
        prompt: str,
        size: str | None,
        default_size: str,
        move: str | None,
        duration: float,
        dialogue: str,
        characters: tuple[str, ...],
    ) -> None:
        if len(self.shots) >= MAX_SHOTS:
            raise ScriptError(
                f"The script makes more than {MAX_SHOTS} shots; the limit is {MAX_SHOTS}. "
                "Split it into parts and break them down one at a time."
            )
        key = (self.scene, " ".join(source.split()))
        occurrence = self.occurrences.get(key, 0)
        self.occurrences[key] = occurrence + 1
        shot_size = size or ("wide" if self.in_scene == 0 else default_size)
        camera_move = move or "static"
        assert shot_size in SHOT_SIZES and camera_move in CAMERA_MOVES
        self.shots.append(
            ShotDraft(
                scene=self.scene,
                prompt=prompt,
                shot_size=shot_size,
                camera_move=camera_move,
                duration=duration,
                seed=_seed(self.base_seed, self.scene, source, occurrence),
                dialogue=dialogue,
                characters=characters,
            )
        )
        self.in_scene += 1

    def action(self, group: _Group) -> None:
        text = " ".join(group.texts).rstrip(".")
        self.last_action = text
        raw = " ".join(group.sources)
        found = [(m.start(), n) for n, p in self.name_patterns if (m := p.search(raw))]
        self.add(
            source=raw,
            prompt=_join(self.hint, text),
            size=group.shot_size,
            default_size="medium",
            move=group.camera_move,
            duration=_clamp(2.0 + ACTION_SECONDS_PER_WORD * group.words, ACTION_DURATION),
            dialogue="",
            characters=tuple(n for _, n in sorted(found)),
        )

    def dialogue(self, d: _Dialogue, pending: _Group | None) -> None:
        line = " ".join(
            f"[{t}]" if is_paren else _INLINE_PAREN.sub(r"[\1]", t) for is_paren, t in d.parts
        )
        spoken = re.sub(r"\[[^\]]*\]", " ", line)
        manner = ", ".join(
            t for is_paren, t in d.parts if is_paren and t.lower() not in _NOT_VISUAL_PAREN
        )
        person = d.name.title()
        if d.off_screen:
            prompt = _join(self.hint, self.last_action) or person
        else:
            prompt = _join(self.hint, f"{person} speaking", manner)
        words = _word_count(spoken)
        self.add(
            source=f"{d.name}: {line}",
            prompt=prompt,
            size=pending.shot_size if pending else None,
            default_size="medium" if d.off_screen else "close-up",
            move=pending.camera_move if pending else None,
            duration=_clamp(1.0 + words / DIALOGUE_WORDS_PER_SECOND, DIALOGUE_DURATION),
            dialogue=f"{d.name}: {line}" if line else d.name,
            characters=(d.name,),
        )


def break_down(script: str, *, base_seed: int = 0) -> list[ShotDraft]:
    """Break a screenplay or prose into shots (rules in the module docstring)."""
    return break_down_with_cast(script, base_seed=base_seed)[0]


def find_cast(script: str) -> list[CastDraft]:
    """The script's cast, in order of first appearance (rules in the module docstring)."""
    return break_down_with_cast(script)[1]


def break_down_with_cast(
    script: str, *, base_seed: int = 0
) -> tuple[list[ShotDraft], list[CastDraft]]:
    """The shots and the cast of a script, from one reading."""
    text = _clean_input(script)
    if len(text) > MAX_SCRIPT_CHARS:
        raise ScriptError(_too_long_message(f"{len(text):,} characters"))
    if not text.strip():
        raise ScriptError("The script is empty: write or upload some text first.")
    _title, text = _title_page(text)  # a title page is the film's title card, not a shot
    elements = list(_parse(text))
    names: list[str] = []
    descriptions: dict[str, str] = {}
    for el in elements:
        if isinstance(el, _Dialogue) and el.name not in names:
            names.append(el.name)
        elif isinstance(el, _Action):
            for name, description, _m in _introductions(el.text):
                descriptions.setdefault(name, description)
                if name not in names:
                    names.append(name)
            el.text = _introduce(el.text)
    builder = _Builder(base_seed, names)
    pending: _Group | None = None
    for el in elements:
        if isinstance(el, _Heading):
            builder.new_scene(el)
            pending = None
        elif isinstance(el, _Dialogue):
            builder.dialogue(el, pending)
            pending = None
        else:
            groups, pending = _group_paragraph(el.text, pending)
            for group in groups:
                builder.action(group)
    if not builder.shots:
        raise ScriptError(
            "No shots found: the script has no action, description or dialogue "
            "(only scene headings or transitions)."
        )
    appearances: dict[str, int] = {}
    for shot in builder.shots:
        for name in shot.characters:
            appearances[name] = appearances.get(name, 0) + 1
    cast = [CastDraft(n, descriptions.get(n, ""), k) for n, k in appearances.items()]
    return builder.shots, cast
