"""Film assembly, remux vs re-encode, measured side by side in one run.

Renders N draft clips (DraftPipeline + encode_video) into a temp folder, then assembles them
twice: by remuxing (the fast path when clips share codec parameters) and by a forced
re-encode (what a crossfade or mixed sizes cost). Each assembly is timed best of 3.

    python benchmarks/assemble.py [--clips N] [--seconds S] [--width W] [--height H] [--fps F]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# Run as a script from anywhere: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.draft import DraftPipeline
from pipelines.requests import CAMERA_MOVES, RenderRequest
from studio.film.assembly import FilmResult, FilmSpec, assemble
from studio.film.video import encode_video


def _best_of(runs: int, action: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def _make_clips(folder: Path, args: argparse.Namespace) -> tuple[list[Path], float, float]:
    """The clips, and the seconds spent rendering frames and encoding them."""
    pipeline = DraftPipeline()
    clips, render_s, encode_s = [], 0.0, 0.0
    for index in range(args.clips):
        request = RenderRequest(
            prompt=f"Shot {index + 1}: a rider crosses the salt flats",
            seed=index,
            shot_number=index + 1,
            width=args.width,
            height=args.height,
            duration=args.seconds,
            fps=args.fps,
            camera_move=CAMERA_MOVES[index % len(CAMERA_MOVES)],
        )
        started = time.perf_counter()
        frames = list(pipeline.render_clip(request))
        render_s += time.perf_counter() - started
        path = folder / f"shot{index + 1:03d}.mp4"
        started = time.perf_counter()
        encode_video(frames, path, args.fps)
        encode_s += time.perf_counter() - started
        clips.append(path)
    return clips, render_s, encode_s


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--runs", type=int, default=3, help="best of this many (default 3)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-assemble-") as tmp:
        folder = Path(tmp)
        clips, render_s, encode_s = _make_clips(folder, args)
        results: dict[str, FilmResult] = {}

        def run(name: str, force: bool) -> None:
            spec = FilmSpec(clips, folder / f"{name}.mp4", force_reencode=force)
            results[name] = assemble(spec)

        remux_s = _best_of(args.runs, lambda: run("remux", False))
        reencode_s = _best_of(args.runs, lambda: run("reencode", True))

    frames = results["remux"].info.frames
    assert results["remux"].method == "remux" and results["reencode"].method == "reencode"
    print(
        f"{args.clips} clips × {args.seconds:g} s, {args.width}×{args.height} @ {args.fps} fps "
        f"({frames} frames, film {results['remux'].info.duration:g} s), best of {args.runs}"
    )
    rows = [
        ("render draft clips (all)", render_s),
        ("encode clips (all)", encode_s),
        ("assemble: remux", remux_s),
        ("assemble: re-encode", reencode_s),
    ]
    print(f"{'step':<28}{'seconds':>10}{'ms/frame':>10}")
    for name, seconds in rows:
        print(f"{name:<28}{seconds:>10.3f}{seconds / frames * 1000:>10.3f}")
    print(f"{'ratio re-encode / remux':<28}{reencode_s / remux_s:>10.1f}×")


if __name__ == "__main__":
    main()
