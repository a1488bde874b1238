"""Text-to-speech engines, seconds of speech per wall second, measured side by side in one run.

Speaks the same dialogue (a few sentences of a film scene, repeated `--repeat` times into one
line, so longer text goes through the sentence chunking) with each engine and reports how many
seconds of speech each produces per second of wall time (higher is faster; 1 is real time):
- espeak: eSpeak NG through the ctypes binding (the shipped `espeak` entry);
- tiny-tts: the tiny random VITS of `pipelines.tiny` (built with make_tiny in a temp folder,
  or `--tiny-dir`). Its weights are random and ~35 thousand parameters: its speed is that of
  the transformers-tts code path, not of a neural voice (MMS voices have ~36 million);
- mms-tts-eng: the real MMS English voice, only when its weights are on this machine (they
  are looked up offline, never downloaded; skipped otherwise).
Each engine is loaded and warmed with one line first; then the engines alternate, run by run,
so a change in machine load hits them alike, and the best of `--runs` counts. CPU seconds
(process time, all threads) are printed beside wall seconds.

Then a film of `--shots` draft clips with a line each (spoken by eSpeak NG) is assembled
without sound, with music only, with the full mix (lines, ducked music, loudness, subtitle
files and track) and with burned-in subtitles, alternating, best of `--runs`: what the mix
costs on top of the same assembly.

    python benchmarks/speech.py [--runs N] [--repeat R] [--threads T] [--tiny-dir DIR]
        [--shots N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Run as a script from anywhere: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never download: measure what is here

from pipelines.catalogue import Catalogue, load_pipeline
from pipelines.errors import PipelineError
from pipelines.requests import SpeechRequest
from pipelines.speech import Speech, chunk_text

SCENE = (
    "Keep walking, and do not look back at the house. Whatever you hear, keep walking. "
    "The lamp in the window will go out at midnight, and then you can rest. I left the gate "
    "open for you, the way we always did when we were children. Do you remember the orchard? "
    "The ladder is still against the old apple tree."
)


def _tiny_catalogue(folder: Path) -> Catalogue:
    source = folder / "pipelines.yaml"
    if not source.is_file():
        from pipelines.tiny import make_tiny

        started = time.perf_counter()
        make_tiny(folder)
        print(f"make_tiny: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return Catalogue.load(source)


def _engines(tiny: Catalogue) -> tuple[dict[str, Any], list[str]]:
    """The loaded engines by name, and a line per engine that could not be loaded."""
    shipped = Catalogue.load()
    engines: dict[str, Any] = {}
    skipped: list[str] = []
    for name, catalogue in (("espeak", shipped), ("tiny-tts", tiny), ("mms-tts-eng", shipped)):
        try:
            engines[name] = load_pipeline(catalogue.get(name))
        except PipelineError as exc:
            skipped.append(f"{name}: skipped ({exc})")
    return engines, skipped


def _timed(engine: Any, request: SpeechRequest) -> tuple[float, float, Speech]:
    """Wall and CPU seconds of one `speak`, and what it said."""
    started, cpu = time.perf_counter(), time.process_time()
    speech = engine.speak(request)
    return time.perf_counter() - started, time.process_time() - cpu, speech


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="best of this many (default 3)")
    parser.add_argument("--repeat", type=int, default=4, help="the scene this many times")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--tiny-dir", type=Path, help="reuse (or make) the tiny models here")
    parser.add_argument("--shots", type=int, default=5, help="shots of the film (default 5)")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    text = " ".join([SCENE] * args.repeat)
    request = SpeechRequest(text, seed=1)
    with tempfile.TemporaryDirectory(prefix="bench-speech-") as tmp:
        engines, skipped = _engines(_tiny_catalogue(args.tiny_dir or Path(tmp)))
        for engine in engines.values():
            engine.speak(SpeechRequest("Warming up.", seed=1))
        best: dict[str, tuple[float, float, Speech]] = {}
        for _ in range(args.runs):
            for name, engine in engines.items():
                result = _timed(engine, request)
                if name not in best or result[0] < best[name][0]:
                    best[name] = result

    print(
        f"{len(text)} characters in {len(chunk_text(text))} chunks, best of {args.runs}, "
        f"torch threads {args.threads}"
    )
    print(f"{'engine':<14}{'speech s':>10}{'wall s':>10}{'cpu s':>10}{'speech s / wall s':>20}")
    for name, (wall, cpu, speech) in best.items():
        rate = speech.seconds / wall
        print(f"{name:<14}{speech.seconds:>10.2f}{wall:>10.3f}{cpu:>10.3f}{rate:>20.1f}")
    for line in skipped:
        print(line)
    print(
        "tiny-tts has random weights (~35k parameters): its rate is the code path's, not a voice's"
    )
    _assembly(args.shots, args.runs)


# -- film assembly with and without the mix ------------------------------------------------


def _assembly(shots: int, runs: int) -> None:
    import numpy as np

    from pipelines.draft import DraftPipeline
    from pipelines.requests import RenderRequest
    from studio.film.assembly import FilmSpec, SpokenLine, assemble
    from studio.film.video import encode_video

    with tempfile.TemporaryDirectory(prefix="bench-mix-") as tmp:
        folder = Path(tmp)
        clips, lines = [], []
        voice = load_pipeline(Catalogue.load().get("espeak"))
        for index in range(shots):
            request = RenderRequest(
                f"shot {index}", seed=index, width=512, height=288, duration=4.0, fps=24
            )
            clip = folder / f"clip{index}.mp4"
            encode_video(DraftPipeline().render_clip(request), clip, 24)
            clips.append(clip)
            said = SCENE.split(". ")[index % 4] + "."
            path = voice.speak(SpeechRequest(said)).write_wav(folder / f"line{index}.wav")
            lines.append(SpokenLine(clip=index, path=path, offset=0.3, text=said))
        music = Speech(
            0.2 * np.sin(np.arange(48_000 * 4 * shots) * 2 * np.pi * 220 / 48_000), 48_000
        ).write_wav(folder / "music.wav")
        cases = {
            "silent": FilmSpec(clips, folder / "silent.mp4"),
            "music only": FilmSpec(clips, folder / "music.mp4", audio=music),
            "full mix": FilmSpec(clips, folder / "mix.mp4", audio=music, lines=lines),
            "mix + burned-in": FilmSpec(
                clips, folder / "burned.mp4", audio=music, lines=lines, burn_subtitles=True
            ),
        }
        best: dict[str, tuple[float, str]] = {}
        for _ in range(runs):
            for name, spec in cases.items():
                started = time.perf_counter()
                result = assemble(spec)
                seconds = time.perf_counter() - started
                if name not in best or seconds < best[name][0]:
                    best[name] = (seconds, result.method)
    base = best["silent"][0]
    print(f"\nfilm of {shots} × 4 s draft clips at 512×288, best of {runs}")
    print(f"{'assembly':<18}{'method':>10}{'seconds':>10}{'× silent':>10}")
    for name, (seconds, method) in best.items():
        print(f"{name:<18}{method:>10}{seconds:>10.3f}{seconds / base:>10.1f}")


if __name__ == "__main__":
    main()
