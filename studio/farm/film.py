"""Run a film job: the chosen takes, their spoken lines, their sounds and the soundtrack,
assembled.

Called by the job runner for jobs of kind `film`. The film's subtitles (SRT and WebVTT,
written beside it by the assembly) are stored as attachments of the film's artifact, so a
client finds them from the film: `artifact(film.artifact_id).provenance["attachments"]`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from studio.core import provenance
from studio.core.artifacts import store_file
from studio.core.errors import JobFailed
from studio.core.models import Artifact, RenderJob, ident
from studio.core.timeline import has_edits

if TYPE_CHECKING:
    from studio.farm.runner import JobRunner, ProgressReporter

SUBTITLE_TYPES = {".srt": ("application/x-subrip", "srt"), ".vtt": ("text/vtt", "vtt")}


def render_film(
    runner: JobRunner, job: RenderJob, tmp: Path, report: ProgressReporter
) -> tuple[Artifact, dict[str, Artifact]]:
    from studio.film.assembly import (
        AssemblyError,
        Edit,
        FilmSpec,
        ShotSound,
        SpokenLine,
        assemble,
    )

    params = job.params
    prov = provenance.record(ident(job), params, job.params_hash)
    local = runner.storage.local_path
    lines = [
        SpokenLine(
            clip=int(line["clip"]),
            path=local(line["key"]),
            offset=float(line["offset"]),
            text=str(line["text"]),
            speaker=str(line.get("speaker", "")),
        )
        for line in params.get("lines", [])
    ]
    sounds = [
        ShotSound(clip=int(s["clip"]), path=local(s["key"]), gain_db=float(s["gain_db"]))
        for s in params.get("sounds", [])
    ]
    takes = params["takes"]
    # The timeline's edits (studio/core/timeline.py); films without any keep the old path.
    edited = has_edits(takes)
    edits = [
        Edit(
            trim_in=float(take.get("trim_in", 0.0)),
            trim_out=take.get("trim_out"),
            transition=take.get("transition", "cut"),
            transition_seconds=float(take.get("transition_seconds", 0.0)),
        )
        for take in takes
    ]
    out = tmp / "film.mp4"
    loudness = params.get("loudness", -16.0)
    spec = FilmSpec(
        clips=[local(take["key"]) for take in takes],
        edits=edits if edited else (),
        out=out,
        crossfade=float(params.get("crossfade", 0.0)),
        title=params.get("title") or None,
        title_seconds=float(params.get("title_seconds", 2.0)),
        audio=local(params["audio"]["key"]) if params.get("audio") else None,
        metadata=provenance.file_tags(prov),
        lines=lines,
        sounds=sounds,
        loudness=None if loudness is None else float(loudness),
        subtitles=bool(params.get("subtitles", True)),
        burn_subtitles=bool(params.get("burn_subtitles", False)),
        speaker_names=bool(params.get("speaker_names", False)),
    )
    try:
        result = assemble(spec, on_progress=report.stage(0.0, 0.9, "Assembling"))
    except AssemblyError as exc:
        raise JobFailed(str(exc)) from exc
    prov["assembly"] = {
        "method": result.method,
        "reencoded_clips": result.reencoded_clips,
        "seconds": result.info.duration,
        "lines": len(lines),
        "cues": len(result.cues),
        "loudness": result.loudness,
        "warnings": list(result.warnings),
    }
    report.milestone(0.95, "Storing")
    attachments = {}
    for path in result.subtitles:
        content_type, role = SUBTITLE_TYPES[path.suffix]
        attachments[role] = store_file(
            runner.storage,
            path,
            content_type,
            {"kind": "subtitles", "film_job_id": ident(job), "format": role},
            job.owner,
            suffix=path.suffix,
        )
    return store_file(runner.storage, out, "video/mp4", prov, job.owner), attachments
