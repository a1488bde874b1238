"""Preview rendering, batched vs one at a time, measured side by side in one run.

Builds the tiny pipelines (pipelines.tiny) in a temp folder, loads `tiny-sd` through the
catalogue, then renders N previews with the same seeds twice: one `render_frame` call each,
and one `render_frames` call for all. Each way is timed best of 3 after a warm-up call; the
outputs are checked to match. The ratio (one at a time ÷ batched) is printed last.

    python benchmarks/preview_batch.py [--previews N] [--size PX] [--steps S] [--threads T]
                                       [--tiny-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# Run as a script from anywhere: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tiny models are local: never touch the hub

import numpy as np

from pipelines.catalogue import Catalogue, load_pipeline
from pipelines.requests import RenderRequest
from pipelines.tiny import make_tiny


def _best_of(runs: int, action: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--previews", type=int, default=8)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tiny-dir", type=Path, help="reuse (or build) the tiny set here")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="tiny-") as tmp:
        folder = args.tiny_dir or Path(tmp)
        catalogue_file = folder / "pipelines.yaml"
        if not catalogue_file.is_file():
            started = time.perf_counter()
            make_tiny(folder)
            print(f"make_tiny: {time.perf_counter() - started:.2f} s")
        pipeline = load_pipeline(Catalogue.load(catalogue_file).get("tiny-sd"))
        extra = {"steps": args.steps, "width": args.size, "height": args.size}
        requests = [
            RenderRequest(
                prompt=f"shot {i}: a lighthouse in a storm",
                seed=i,
                width=args.size,
                height=args.size,
                extra=extra,
            )
            for i in range(args.previews)
        ]
        pipeline.render_frame(requests[0])  # warm-up: first-call allocations

        singles = [np.asarray(pipeline.render_frame(r), np.int16) for r in requests]
        batch = [np.asarray(image, np.int16) for image in pipeline.render_frames(requests)]
        worst = max(int(np.abs(a - b).max()) for a, b in zip(singles, batch, strict=True))

        one_by_one = _best_of(args.runs, lambda: [pipeline.render_frame(r) for r in requests])
        batched = _best_of(args.runs, lambda: pipeline.render_frames(requests))

    print(
        f"tiny-sd: {args.previews} previews {args.size}×{args.size}, {args.steps} steps, "
        f"best of {args.runs}; largest pixel difference batched vs single: {worst}"
    )
    print(f"one at a time: {one_by_one:.3f} s")
    print(f"batched:       {batched:.3f} s")
    print(f"ratio (one at a time / batched): {one_by_one / batched:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
