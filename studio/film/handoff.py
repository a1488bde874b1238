"""Hand a cut to an editing suite and take the edited cut back, with OpenTimelineIO.

`to_timeline`: a `Cut` as an OTIO timeline whose record times are the studio film's;
`write_bundle`: a zip of .otio, .fcpxml, .edl (adapter plugins) and media/; `read_cut`: an
edited .otio, .otioz, .fcpxml or .edl back as clips in order. Pure: no database, no core.

- **Title card**: a Gap named "Title" (studio.kind "title") first on the "Video" track.
- **Dissolve** of d s between A and B (they overlap: the film is n = round(d · fps) frames
  shorter): a SMPTE_Dissolve on the cut, in_offset = n // 2 before it (B's head handle),
  out_offset = n - n // 2 after it (A's tail handle), so A ends out_offset early and B starts
  in_offset late (whole frames, so the EDL and FCPXML agree). Import adds the handles back
  whatever the split (an EDL's dissolve has in_offset 0). On the last clip: a cut.
- **Fade** (A's last d s to black, B's first d s up from black, no overlap): a dip to black
  on the cut, Transition(type "Custom", name "Fade to black", in_offset = out_offset = d,
  metadata studio.kind "fade"); clip ranges untouched. On the last clip it ends the track
  (out_offset 0). Import takes d from in_offset.
- Markers: a clip's in take time, the cut's on "Video" in film time; text = name, author =
  metadata studio.author. Audio: a track per kind ("Dialogue", "Music", "Effects", "Music 2"
  where items overlap), gaps between items.

**FCPXML** (at the film's rate, else the 24/25/30/50/60 fps that it divides, else 24) keeps
clips, ranges, the title gap, clip markers, audio that starts under the picture (connected
clips), studio.job_id / shot_id as `md` entries (`read_cut` reads them); no transitions
(dissolves, fades: cuts at OTIO's cut points), no track markers, ’ for ' in names.
**EDL** (CMX 3600, video only) keeps clips, trims and dissolves, names clip and reel after
the media file (`* FROM CLIP: media/…`, so it matches back by media_name) and clip markers
(LOC); fades become cuts; no audio, track markers or metadata. SMPTE timecode has no 8 or 16
fps: such an EDL is at the smallest timecode rate that is a multiple of the fps (else 24).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange
AUDIO_KINDS = {"dialogue": "Dialogue", "music": "Music", "effects": "Effects"}
FORMATS = ("otio", "fcpxml", "edl")
TIMECODE_RATES = (24, 25, 30, 48, 50, 60)  # SMPTE rates an EDL may be written at
FCPXML_RATES = (24, 25, 30, 50, 60)  # whole rates the FCPXML writer knows
_MEDIA_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class CutMarker:
    """A comment: at take seconds for a clip's marker, film seconds for the cut's."""

    seconds: float
    text: str
    author: str = ""
    duration: float = 0.0


@dataclass(frozen=True)
class CutClip:
    """One take in the cut, shown from trim_in to trim_out (take seconds), and the
    transition at its end into the next clip."""

    name: str
    media: Path
    media_name: str
    rate: Fraction
    frames: int
    trim_in: float = 0.0
    trim_out: float | None = None
    transition: str = "cut"
    transition_seconds: float = 0.0
    metadata: Mapping[str, Any] = field(default_factory=dict)
    markers: Sequence[CutMarker] = ()


@dataclass(frozen=True)
class CutAudio:
    """A sound file on the film's timeline: `seconds` of it from `source_in`, at `start`."""

    kind: str
    name: str
    media: Path
    media_name: str
    start: float
    seconds: float
    source_in: float = 0.0
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Cut:
    name: str
    rate: Fraction
    clips: Sequence[CutClip]
    audio: Sequence[CutAudio] = ()
    markers: Sequence[CutMarker] = ()
    title_seconds: float = 0.0
    metadata: Mapping[str, Any] = field(default_factory=dict)


class HandoffError(ValueError):
    """A cut cannot be handed off or read back; the message is meant for the user."""


@dataclass(frozen=True)
class ImportedClip:
    name: str
    job_id: int | None
    shot_id: int | None
    media_name: str
    trim_in: float
    trim_out: float
    transition: str
    transition_seconds: float


@dataclass(frozen=True)
class ImportedCut:
    clips: tuple[ImportedClip, ...]
    warnings: tuple[str, ...]


# ---------------------------------------------------------------------------- export


def _jsonable(value: Mapping[str, Any]) -> dict[str, Any]:
    """A plain JSON copy (OTIO metadata takes no Paths, tuples or Fractions)."""
    return dict(json.loads(json.dumps(dict(value), default=str)))


def _at(seconds: float, rate: Fraction) -> Any:
    return RT(seconds * float(rate), float(rate))


def _marker(marker: CutMarker, rate: Fraction) -> Any:
    return otio.schema.Marker(
        name=marker.text,
        marked_range=TR(_at(marker.seconds, rate), _at(marker.duration, rate)),
        metadata={"studio": {"author": marker.author}},
    )


def _frames(clip: CutClip, index: int) -> tuple[int, int]:
    """The clip's source frames [first, end) at its own rate, checked."""
    where = f"clip {index + 1} ('{clip.name}')"
    if not _MEDIA_NAME.fullmatch(clip.media_name):
        raise HandoffError(f"{where}: media name {clip.media_name!r} is not a plain file name")
    first = round(clip.trim_in * clip.rate)
    end = clip.frames if clip.trim_out is None else round(clip.trim_out * clip.rate)
    if not 0 <= first < end <= clip.frames:
        raise HandoffError(f"{where}: its trims are outside the take")
    if clip.transition not in ("cut", "dissolve", "fade"):
        raise HandoffError(f"{where}: unknown transition {clip.transition!r}")
    return first, end


def to_timeline(cut: Cut) -> Any:
    """The cut as an OTIO Timeline (see the module docstring for the mapping)."""
    if not cut.clips:
        raise HandoffError("the cut has no clips")
    rate = float(cut.rate)
    studio = _jsonable(cut.metadata) | {"rate": str(cut.rate), "title_seconds": cut.title_seconds}
    timeline = otio.schema.Timeline(name=cut.name, metadata={"studio": studio})
    video = otio.schema.Track(name="Video", kind=otio.schema.TrackKind.Video)
    if cut.title_seconds > 0:
        title = RT(round(cut.title_seconds * rate), rate)
        video.append(
            otio.schema.Gap(
                name="Title",
                source_range=TR(RT(0, rate), title),
                metadata={"studio": {"kind": "title", "seconds": cut.title_seconds}},
            )
        )
    last = len(cut.clips) - 1
    # dissolve frames after each clip at the film's rate (0: none)
    overlaps = [
        round(c.transition_seconds * rate) if c.transition == "dissolve" and i < last else 0
        for i, c in enumerate(cut.clips)
    ]
    for index, clip in enumerate(cut.clips):
        first, end = _frames(clip, index)
        fps = float(clip.rate)
        head = RT(overlaps[index - 1] // 2 if index else 0, rate)
        tail = RT(overlaps[index] - overlaps[index] // 2, rate)
        start, stop = RT(first, fps) + head, RT(end, fps) - tail
        if stop <= start:
            raise HandoffError(f"clip {index + 1} ('{clip.name}') is shorter than its dissolves")
        reference = otio.schema.ExternalReference(
            target_url=f"media/{clip.media_name}",
            available_range=TR(RT(0, fps), RT(clip.frames, fps)),
        )
        reference.name = clip.media_name
        item = otio.schema.Clip(
            name=clip.name,
            media_reference=reference,
            source_range=otio.opentime.range_from_start_end_time(start, stop),
            metadata={"studio": _jsonable(clip.metadata)},
        )
        for marker in clip.markers:
            item.markers.append(_marker(marker, clip.rate))
        video.append(item)
        if overlaps[index]:
            n = overlaps[index]
            video.append(
                otio.schema.Transition(
                    name="Dissolve",
                    transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                    in_offset=RT(n // 2, rate),
                    out_offset=RT(n - n // 2, rate),
                )
            )
        elif clip.transition == "fade" and clip.transition_seconds > 0:
            d = round(clip.transition_seconds * rate)
            if RT(d, rate) > stop - start:
                raise HandoffError(f"clip {index + 1} ('{clip.name}') is shorter than its fade")
            video.append(
                otio.schema.Transition(
                    name="Fade to black",
                    transition_type=otio.schema.TransitionTypes.Custom,
                    in_offset=RT(d, rate),
                    out_offset=RT(d if index < last else 0, rate),
                    metadata={"studio": {"kind": "fade", "seconds": clip.transition_seconds}},
                )
            )
    for marker in cut.markers:
        video.markers.append(_marker(marker, cut.rate))
    timeline.tracks.append(video)
    for track in _audio_tracks(cut):
        timeline.tracks.append(track)
    return timeline


def _audio_tracks(cut: Cut) -> list[Any]:
    """A track per kind present (a further one where items of a kind overlap)."""
    rate = cut.rate
    tracks: list[Any] = []
    for kind, title in AUDIO_KINDS.items():
        lanes: list[tuple[Any, float]] = []  # (track, its end in film seconds)
        for audio in sorted((a for a in cut.audio if a.kind == kind), key=lambda a: a.start):
            if audio.seconds <= 0 or audio.start < 0 or audio.source_in < 0:
                raise HandoffError(f"audio '{audio.name}': start and length must be positive")
            if not _MEDIA_NAME.fullmatch(audio.media_name):
                raise HandoffError(f"audio '{audio.name}': media name {audio.media_name!r}")
            lane = next((i for i, (_, end) in enumerate(lanes) if end <= audio.start), None)
            if lane is None:
                name = title if not lanes else f"{title} {len(lanes) + 1}"
                lanes.append((otio.schema.Track(name=name, kind="Audio"), 0.0))
                lane = len(lanes) - 1
            track, end = lanes[lane]
            if audio.start > end:
                track.append(
                    otio.schema.Gap(
                        source_range=TR(RT(0, float(rate)), _at(audio.start - end, rate))
                    )
                )
            reference = otio.schema.ExternalReference(
                target_url=f"media/{audio.media_name}",
                available_range=TR(RT(0, float(rate)), _at(audio.source_in + audio.seconds, rate)),
            )
            reference.name = audio.media_name
            track.append(
                otio.schema.Clip(
                    name=audio.name,
                    media_reference=reference,
                    source_range=TR(_at(audio.source_in, rate), _at(audio.seconds, rate)),
                    metadata={"studio": _jsonable(audio.metadata) | {"kind": kind}},
                )
            )
            lanes[lane] = (track, audio.start + audio.seconds)
        tracks.extend(track for track, _ in lanes)
    unknown = sorted({a.kind for a in cut.audio} - set(AUDIO_KINDS))
    if unknown:
        raise HandoffError(f"unknown audio kind(s): {', '.join(unknown)}")
    return tracks


def _is_fade(item: Any) -> bool:
    return bool(item.metadata.get("studio", {}).get("kind") == "fade")


def _rate_for(rate: Fraction, known: Sequence[int]) -> Fraction:
    """`rate` where a format knows it (SMPTE timecode, the FCPXML writer), else the smallest
    known rate that is a whole multiple of it, else 24 (rounded to its frames)."""
    multiples = [Fraction(r) for r in known if (Fraction(r) / rate).denominator == 1]
    return rate if rate in known else (multiples[0] if multiples else Fraction(24))


def _fcpxml(timeline: Any, cut: Cut) -> str:
    copy, rate = timeline.deepcopy(), float(_rate_for(cut.rate, FCPXML_RATES))
    video_end = copy.tracks[0].duration()
    for track in copy.tracks:
        for index in reversed(range(len(track))):
            item = track[index]
            if isinstance(item, otio.schema.Transition):
                del track[index]  # the adapter writes none: cuts at OTIO's cut points
            elif (
                track.kind == "Audio"
                and track.range_of_child_at_index(index).start_time >= video_end
            ):
                del track[index]  # a connected clip needs a clip of the spine above it
        for item in track:  # one rate (one format) for every clip and gap
            if item.source_range is not None:
                item.source_range = _scaled(item.source_range, rate)
    for clip in copy.find_clips():  # no quotes in names (the adapter's XPaths)
        clip.name = clip.name.replace("'", "’")
        clip.media_reference.available_range = _scaled(clip.media_reference.available_range, rate)
        for marker in clip.markers:
            marker.marked_range = _scaled(marker.marked_range, rate)
        studio = clip.metadata.get("studio", {})
        md = [{f"studio.{key}": str(studio[key])} for key in ("job_id", "shot_id") if key in studio]
        clip.media_reference.metadata["fcpx"] = {
            "note": str(studio.get("prompt", "")),
            "metadata": md,
        }
    text: str = otio.adapters.write_to_string(copy, "fcpx_xml")
    return text


def _scaled(span: Any, rate: float) -> Any:
    return TR(span.start_time.rescaled_to(rate), span.duration.rescaled_to(rate))


def _edl(timeline: Any, cut: Cut) -> str:
    video = timeline.tracks[0].deepcopy()
    video.markers.clear()
    for index in reversed(range(len(video))):
        item = video[index]
        if isinstance(item, otio.schema.Transition) and _is_fade(item):
            del video[index]  # an EDL has no dip to black: a cut
        elif isinstance(item, otio.schema.Clip):
            item.name = os.path.basename(item.media_reference.target_url)
            item.metadata["cmx_3600"] = {"reel": Path(item.name).stem}
    edl = otio.schema.Timeline(name=cut.name)
    edl.tracks.append(video)
    rate = float(_rate_for(cut.rate, TIMECODE_RATES))
    text: str = otio.adapters.write_to_string(edl, "cmx_3600", rate=rate, reelname_len=None)
    return text


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "cut"


def write_bundle(cut: Cut, path: Path, formats: Sequence[str] = ("otio", "fcpxml", "edl")) -> Path:
    """Zip the cut as `<slug>.otio`/`.fcpxml`/`.edl` with media/<media_name> for each file.

    Every reference is relative (media/…), so an editor opens the unzipped folder as it is.
    Written to a temporary file and renamed: a failure leaves no zip at `path`.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise HandoffError(f"unknown format(s) {unknown}: choose from {', '.join(FORMATS)}")
    timeline = to_timeline(cut)
    media: dict[str, Path] = {}
    for name, source in [(c.media_name, c.media) for c in cut.clips] + [
        (a.media_name, a.media) for a in cut.audio
    ]:
        if not Path(source).is_file():
            raise HandoffError(f"media file {source} is missing")
        if media.setdefault(name, Path(source)).resolve() != Path(source).resolve():
            raise HandoffError(f"two different files are both named {name!r}")
    slug = _slug(cut.name)
    texts = {
        "otio": lambda: otio.adapters.write_to_string(timeline, "otio_json"),
        "fcpxml": lambda: _fcpxml(timeline, cut),
        "edl": lambda: _edl(timeline, cut),
    }
    try:
        documents = {f"{slug}.{fmt}": texts[fmt]() for fmt in dict.fromkeys(formats)}
    except (otio.exceptions.OTIOError, AttributeError, ValueError, SyntaxError) as exc:
        raise HandoffError(f"this cut cannot be written in every format asked for: {exc}") from exc
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(handle)
    try:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as bundle:
            for name, text in documents.items():
                bundle.writestr(name, text)
            for name, source in media.items():  # already compressed: stored
                bundle.write(source, f"media/{name}", compress_type=zipfile.ZIP_STORED)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


# ---------------------------------------------------------------------------- import


def _parse(data: bytes | str, filename: str, rate: Fraction | None) -> Any:
    suffix = Path(filename).suffix.lower()
    if suffix not in (".otio", ".otioz", ".fcpxml", ".edl"):
        raise HandoffError(f"{filename}: not a cut file (.otio, .otioz, .fcpxml or .edl)")
    try:
        if suffix == ".otioz":
            with tempfile.TemporaryDirectory() as folder:
                file = Path(folder) / "cut.otioz"
                file.write_bytes(data.encode() if isinstance(data, str) else data)
                return otio.adapters.read_from_file(str(file), "otioz")
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
        if suffix == ".otio":
            return otio.adapters.read_from_string(text, "otio_json")
        if suffix == ".fcpxml":
            return otio.adapters.read_from_string(text, "fcpx_xml")
        edl_rate = float(_rate_for(Fraction(rate), TIMECODE_RATES)) if rate else 24.0
        return otio.adapters.read_from_string(
            text, "cmx_3600", rate=edl_rate, ignore_timecode_mismatch=True
        )
    except (otio.exceptions.OTIOError, ValueError, KeyError, TypeError, AttributeError,
            IndexError, SyntaxError, zipfile.BadZipFile) as exc:  # fmt: skip
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise HandoffError(f"{filename} could not be read as {suffix[1:]}: {first}") from exc


def _timecode(time: Any) -> str:
    seconds = int(time.to_seconds())
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _int(value: Any) -> int | None:
    ok = isinstance(value, int | str) and not isinstance(value, bool)
    return int(value) if ok and str(value).strip().isdigit() else None


def _ids(clip: Any) -> tuple[int | None, int | None]:
    """job_id, shot_id: the .otio's studio metadata, else FCPXML's studio.* md entries."""
    studio = clip.metadata.get("studio", {})
    found = {key: studio.get(key) for key in ("job_id", "shot_id")}
    reference = clip.media_reference
    fcpx = reference.metadata.get("fcpx", {}) if reference is not None else {}
    for entry in fcpx.get("metadata", []) if hasattr(fcpx, "get") else []:
        for key, value in entry.items():
            if key in ("studio.job_id", "studio.shot_id") and found[key[7:]] is None:
                found[key[7:]] = value
    return _int(found["job_id"]), _int(found["shot_id"])


def _media_name(clip: Any) -> str:
    """The basename of its media; in an EDL, a dissolve's incoming side says it in a comment."""
    url = getattr(clip.media_reference, "target_url", None) or ""
    for comment in clip.metadata.get("cmx_3600", {}).get("comments", []):
        found = re.match(r"TO (?:CLIP|FILE):\s*(\S.*)", str(comment))
        url = found.group(1).strip() if found else url
    return os.path.basename(url.replace("\\", "/")) if url else ""


def read_cut(data: bytes | str, filename: str, rate: Fraction | None = None) -> ImportedCut:
    """Parse an edited cut: the first video track's clips in order, with their trims and
    transitions in the studio's terms. `filename`'s suffix picks the format; `rate` is the
    film's fps, needed only for an EDL (which does not say; default 24)."""
    parsed = _parse(data, filename, rate)
    warnings: list[str] = []
    if isinstance(parsed, otio.schema.SerializableCollection):
        timelines = list(parsed.find_children(descended_from_type=otio.schema.Timeline))
        if not timelines:
            raise HandoffError(f"{filename} holds no timeline")
        if len(timelines) > 1:
            warnings.append(f"{len(timelines) - 1} more timeline(s) ignored")
        parsed = timelines[0]
    if not isinstance(parsed, otio.schema.Timeline):
        raise HandoffError(f"{filename} is not an OpenTimelineIO timeline")
    videos = [t for t in parsed.tracks if t.kind == otio.schema.TrackKind.Video]
    if not videos:
        raise HandoffError(f"{filename} has no video track")
    for extra in videos[1:]:
        warnings.append(f"track '{extra.name}' ignored")
    if any(len(t) for t in parsed.tracks if t.kind == otio.schema.TrackKind.Audio):
        warnings.append("audio tracks are not imported")
    clips = _read_track(videos[0], warnings)
    if not clips:
        raise HandoffError(f"{filename}: the video track '{videos[0].name}' has no clips")
    return ImportedCut(clips=tuple(clips), warnings=tuple(warnings))


def _read_track(track: Any, warnings: list[str]) -> list[ImportedClip]:
    clips: list[ImportedClip] = []
    ends: list[Any] = []  # each clip's end in its media, exact (RationalTime)
    items = list(track)
    head = RT()  # the next clip's handle of the dissolve before it
    for index, item in enumerate(items):
        if isinstance(item, otio.schema.Gap):
            if clips and any(isinstance(i, otio.schema.Clip) for i in items[index:]):
                at = _timecode(track.range_of_child_at_index(index).start_time)
                warnings.append(f"gap of {item.duration().to_seconds():.1f} s at {at} ignored")
            continue  # before the first clip: the title card's place
        if isinstance(item, otio.schema.Transition):
            before = items[index - 1] if index else None
            after = items[index + 1] if index + 1 < len(items) else None
            at = _timecode(track.range_of_child_at_index(index).start_time)
            kind = _transition(item, before, after, bool(clips), at, warnings)
            if kind is not None:
                seconds = item.in_offset.to_seconds()  # a fade's length
                if kind == "dissolve":
                    ends[-1] += item.out_offset
                    seconds, head = (item.in_offset + item.out_offset).to_seconds(), item.in_offset
                trim_out = ends[-1].to_seconds()
                clips[-1] = replace(clips[-1], trim_out=trim_out, transition=kind)
                clips[-1] = replace(clips[-1], transition_seconds=seconds)
            continue
        if not isinstance(item, otio.schema.Clip):
            warnings.append(f"{item.schema_name()} '{item.name}' ignored (not a clip)")
            head = RT()
            continue
        if item.source_range is None:
            raise HandoffError(f"clip '{item.name}' has no source range")
        if item.effects:
            warnings.append(f"effects on clip '{item.name}' ignored")
        origin = getattr(item.media_reference, "available_range", None)
        zero = origin.start_time if origin is not None else RT()
        start = item.source_range.start_time - zero - head
        ends.append(item.source_range.end_time_exclusive() - zero)
        trims = start.to_seconds(), ends[-1].to_seconds()
        clips.append(ImportedClip(item.name, *_ids(item), _media_name(item), *trims, "cut", 0.0))
        head = RT()
    return clips


def _transition(
    item: Any, before: Any, after: Any, has_clips: bool, at: str, warnings: list[str]
) -> str | None:
    """ "dissolve" or "fade" where the studio can make it there, else None (and a warning)."""
    kind = "fade" if _is_fade(item) else None
    if item.transition_type == otio.schema.TransitionTypes.SMPTE_Dissolve and kind is None:
        kind = "dissolve"
    if kind is None:
        name = item.name or item.transition_type
        warnings.append(f"transition '{name}' at {at} is not one the studio makes: a cut there")
        return None
    between = isinstance(before, otio.schema.Clip) and (
        kind == "fade" or isinstance(after, otio.schema.Clip)
    )
    if not (has_clips and between):
        warnings.append(f"{kind} at {at} is not between two clips: ignored")
        return None
    if kind == "fade" and after is not None and item.out_offset != item.in_offset:
        warnings.append(f"fade at {at}: the fade up is made as long as the fade out")
    return kind
