"""Run a speech job: one line through a text-to-speech pipeline into a stored WAV.

Called by the job runner for jobs of kind `speech` (a shot's line, or a voice preview). The
WAV carries no tags (the stdlib writer has none); its provenance is in the database and the
JSON sidecar, with the line's length in seconds, which the shot's duration follows
(`studio.core.takes`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.requests import SpeechRequest
from studio.core import provenance
from studio.core.artifacts import store_file
from studio.core.models import Artifact, RenderJob, ident

if TYPE_CHECKING:
    from studio.farm.runner import JobRunner, ProgressReporter


def speech_request(params: dict[str, Any]) -> SpeechRequest:
    request = params["request"]
    return SpeechRequest(
        text=str(request["text"]),
        voice=str(request.get("voice", "")),
        speed=float(request.get("speed", 1.0)),
        pitch=float(request.get("pitch", 0.0)),
        seed=int(request.get("seed", 0)),
    )


def render_speech(
    runner: JobRunner, job: RenderJob, tmp: Path, report: ProgressReporter
) -> Artifact:
    engine = runner.pipeline(job.params["pipeline"]["name"], job.params["pipeline"])
    request = speech_request(job.params)
    speech = engine.speak(request, on_progress=report.stage(0.05, 0.9, "Sentence"))
    prov = provenance.record(ident(job), job.params, job.params_hash)
    prov["prompt"] = request.text  # what was said, where a picture has its prompt
    details = getattr(engine, "provenance", None)
    if details is not None:  # engine and library versions, voice, model revision
        prov["pipeline_details"] = details(request)
    prov["speech"] = {
        "seconds": round(speech.seconds, 4),
        "sample_rate": speech.sample_rate,
        "speaker": job.params.get("speaker", ""),
    }
    path = tmp / "line.wav"
    speech.write_wav(path)
    report.milestone(0.95, "Storing")
    return store_file(runner.storage, path, "audio/wav", prov, job.owner)
