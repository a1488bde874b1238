"""Studio overhead on a real diffusers render: a preview job vs the bare diffusers call.

Builds the tiny pipelines (pipelines.tiny) in a temp folder and writes a catalogue with a
`bench-sd` entry: the `tiny-sd` weights with more work per render (defaults: 25 steps at
64×64, about 2 s on one thread of a 2-core dev machine). Then the same render, side by
side in one run:
- studio: `Studio.local(tmp, pipelines_file=…)`, one preview job of `bench-sd` submitted and
  waited for — database rows and state changes, the inline queue, the pipeline cache,
  progress writes, PNG encoding with provenance, content-addressed storage and its sidecar;
- bare: `StableDiffusionPipeline.from_pretrained(folder)` called with the same prompt, steps,
  guidance, size and seed (`torch.Generator("cpu").manual_seed(seed)`), output_type pil.
Both are warmed first (one load each; the studio's pipeline cache keeps it). Each measured
render uses a new seed — a new job, so the render cache cannot answer — and the bare call
uses the same seeds; the two alternate so a change in machine load hits both alike. The
studio's PNG is checked to hold the bare call's pixels. Prints median and min–max of each,
then `cpu_ratio` (process CPU seconds, all threads, which other processes on the machine
disturb less than wall time) and `overhead_ratio=<studio median / bare median>` (wall) last.
The worker's share is split out: the whole job (`JobRunner.execute`), the diffusers call
inside it, the progress reports and live previews made from that call, and the rest
(database, PNG, storage, provenance).

    python benchmarks/pipeline_overhead.py [--runs N] [--steps S] [--size PX] [--threads T]
                                           [--poll S] [--tiny-dir DIR] [--profile]

`--poll` is how often `Studio.wait` looks at the database (the API's default is 0.2 s, which
adds up to that much latency per job without using the CPU). `--profile` runs cProfile on
the studio's measured jobs (the submitting thread and the render worker thread) and prints
where the time outside the diffusers call goes, per job.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Run as a script from anywhere: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tiny models are local: never touch the hub

import numpy as np
import yaml
from PIL import Image

PROMPT = "a lighthouse on a cliff in a storm, waves breaking"
GUIDANCE = 5.0
WARM_SEED = 999


def bench_catalogue(folder: Path, steps: int, size: int) -> Path:
    """The tiny catalogue plus `bench-sd`: tiny-sd's weights, `steps` steps at size×size."""
    source = folder / "pipelines.yaml"
    if not source.is_file():
        from pipelines.tiny import make_tiny

        started = time.perf_counter()
        make_tiny(folder)
        print(f"make_tiny: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    raw: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
    raw["pipelines"]["bench-sd"] = {
        **raw["pipelines"]["tiny-sd"],
        "description": "tiny-sd with more work per render (benchmarks/pipeline_overhead.py)",
        "defaults": {"steps": steps, "guidance": GUIDANCE, "width": size, "height": size},
    }
    path = folder / "bench-pipelines.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


class Bare:
    """The diffusers call on its own."""

    def __init__(self, folder: Path, steps: int, size: int) -> None:
        import torch
        from diffusers import StableDiffusionPipeline

        self.torch, self.steps, self.size = torch, steps, size
        self.pipe = StableDiffusionPipeline.from_pretrained(str(folder))
        self.pipe.set_progress_bar_config(disable=True)

    def render(self, seed: int) -> Image.Image:
        image: Image.Image = self.pipe(
            PROMPT,
            num_inference_steps=self.steps,
            guidance_scale=GUIDANCE,
            width=self.size,
            height=self.size,
            generator=self.torch.Generator("cpu").manual_seed(seed),
            output_type="pil",
        ).images[0]
        return image


class InStudio:
    """One preview job per render, through a local studio (SQLite, local storage, inline)."""

    def __init__(self, data_dir: Path, catalogue: Path, size: int, poll: float) -> None:
        from studio import Studio

        self.studio = Studio.local(data_dir, pipelines_file=catalogue)
        self.poll = poll
        project = self.studio.create_project(
            "overhead",
            aspect_ratio="1:1",
            height=size,  # 1:1 at `size`: the request is size×size, as the bare call renders
            preview_pipeline="bench-sd",
            clip_pipeline="draft",
        )
        assert project.id is not None
        self.project_id = project.id
        self.shots: dict[int, int] = {}
        self.jobs: list[Any] = []

    def add_shot(self, seed: int) -> None:
        shot = self.studio.add_shot(self.project_id, PROMPT, seed=seed, duration=1.0)
        assert shot.id is not None
        self.shots[seed] = shot.id

    def render(self, seed: int) -> Any:
        (job,) = self.studio.preview(self.project_id, [self.shots[seed]])
        (done,) = self.studio.wait([job], progress=False, poll=self.poll)
        if done.status != "succeeded" or done.cache_hit:
            raise RuntimeError(f"job #{done.id}: {done.status} {done.error or done.message}")
        self.jobs.append(done)
        return done

    def image(self, job: Any) -> Image.Image:
        with Image.open(self.studio.artifact_path(job.artifact_id)) as png:
            return png.convert("RGB")

    def close(self) -> None:
        self.studio.close()


def timed(action: Callable[[], Any], cpu: list[float] | None = None) -> tuple[float, Any]:
    """Wall seconds of `action()` and its result; appends the process's CPU seconds (all
    threads) to `cpu` when given."""
    started, cpu_started = time.perf_counter(), time.process_time()
    result = action()
    if cpu is not None:
        cpu.append(time.process_time() - cpu_started)
    return time.perf_counter() - started, result


class Stopwatch:
    """Wall and thread-CPU seconds per call of a wrapped method (in whatever thread runs it)."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def wrap(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def timed_method(*args: Any, **kwargs: Any) -> Any:
            started, cpu_started = time.perf_counter(), time.thread_time()
            try:
                return method(*args, **kwargs)
            finally:
                self.cpu.append(time.thread_time() - cpu_started)
                self.wall.append(time.perf_counter() - started)

        return timed_method

    def clear(self) -> None:
        self.wall.clear()
        self.cpu.clear()


def spread(values: list[float]) -> str:
    return f"{min(values):.3f}–{max(values):.3f}"


def attach_worker_profiler(studio: InStudio, profiler: cProfile.Profile) -> None:
    """Profile `runner.execute` in the inline worker thread (cProfile sees one thread)."""
    runner = studio.studio.runner
    execute = runner.execute

    def profiled(job: Any, worker: str, then: Any = None) -> Any:
        profiler.enable()
        try:
            return execute(job, worker, then)
        finally:
            profiler.disable()

    runner.execute = profiled  # type: ignore[method-assign]


def report_profile(name: str, profiler: cProfile.Profile, jobs: int, limit: int = 25) -> None:
    """ms per job: the project's own functions by cumulative time (what they cost with all
    they call), then the heaviest functions by own time outside torch/diffusers/transformers
    (the model's arithmetic is the same work the bare call does)."""
    stats = pstats.Stats(profiler)
    ours, others = [], []
    for (filename, line, func), (_cc, _nc, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{_short(filename)}:{line}:{func}"
        if _is_ours(filename):
            ours.append((cumtime, where))
        elif not any(lib in where for lib in ("torch", "diffusers", "transformers")):
            others.append((tottime, where))
    print(f"\n-- profile: {name}, {jobs} jobs --")
    print(f"{'cumulative ms/job':>18}  project functions")
    for cumtime, where in sorted(ours, reverse=True)[:limit]:
        print(f"{cumtime / jobs * 1000:18.1f}  {where}")
    print(f"{'own ms/job':>18}  other functions (not torch/diffusers/transformers)")
    for tottime, where in sorted(others, reverse=True)[:limit]:
        print(f"{tottime / jobs * 1000:18.1f}  {where}")


def _is_ours(filename: str) -> bool:
    root = str(Path(__file__).resolve().parents[1]) + "/"
    return (
        filename.startswith(root) and "/.venv/" not in filename and "/benchmarks/" not in filename
    )


def _short(filename: str) -> str:
    for marker in ("/site-packages/", "/lib/python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    root = str(Path(__file__).resolve().parents[1]) + "/"
    return filename.removeprefix(root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="measured renders each (default 7)")
    parser.add_argument("--steps", type=int, default=25, help="denoising steps (default 25)")
    parser.add_argument("--size", type=int, default=64, help="width = height, ≥ 64 (default 64)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument(
        "--poll", type=float, default=0.02, help="Studio.wait poll interval, s (default 0.02)"
    )
    parser.add_argument("--tiny-dir", type=Path, help="reuse (or build) the tiny set here")
    parser.add_argument("--profile", action="store_true", help="cProfile the studio path")
    args = parser.parse_args(argv)
    if args.size < 64 or args.size % 8:
        parser.error("--size must be a multiple of 8, at least 64 (the studio's minimum height)")

    import torch

    torch.set_num_threads(args.threads)  # process-wide: the studio's worker thread too

    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        folder = (args.tiny_dir or Path(tmp) / "tiny").resolve()
        catalogue = bench_catalogue(folder, args.steps, args.size)
        seeds = [1000 + i for i in range(args.runs)]

        # Warm both: load once, one render each (first-call allocations).
        load_bare, bare = timed(lambda: Bare(folder / "tiny-sd", args.steps, args.size))
        warm_bare, _ = timed(lambda: bare.render(WARM_SEED))
        studio = InStudio(Path(tmp) / "data", catalogue, args.size, args.poll)
        try:
            for seed in [WARM_SEED, *seeds]:
                studio.add_shot(seed)
            warm_studio, _ = timed(lambda: studio.render(WARM_SEED))  # loads into the cache
            studio.jobs.clear()

            # Where the worker's time goes: the whole job vs the diffusers call inside it.
            runner = studio.studio.runner
            execute_watch, call_watch = Stopwatch(), Stopwatch()
            runner.execute = execute_watch.wrap(runner.execute)  # type: ignore[method-assign]
            pipeline = runner.pipeline("bench-sd")  # the cached, loaded one
            pipeline._run = call_watch.wrap(pipeline._run)
            # Progress reports run inside the diffusers call (per step, a database write at
            # most every PROGRESS_INTERVAL): timed apart so the call's own cost shows.
            from studio.farm.runner import ProgressReporter

            progress_watch = Stopwatch()
            report_progress = ProgressReporter.__call__
            ProgressReporter.__call__ = progress_watch.wrap(report_progress)  # type: ignore[method-assign]
            # So do live previews: latents → RGB each step, a PNG stored at most once a second.
            import pipelines.diffusers_image as diffusers_image

            live_watch = Stopwatch()
            latent_preview = diffusers_image._latent_preview
            diffusers_image._latent_preview = live_watch.wrap(latent_preview)
            if hasattr(runner, "_live_preview"):
                live_store = runner._live_preview
                runner._live_preview = lambda job_id: live_watch.wrap(live_store(job_id))  # type: ignore[method-assign]
            main_profiler, worker_profiler = cProfile.Profile(), cProfile.Profile()
            if args.profile:
                attach_worker_profiler(studio, worker_profiler)

            bare_s: list[float] = []
            bare_cpu: list[float] = []
            studio_s: list[float] = []
            studio_cpu: list[float] = []
            images: dict[int, Image.Image] = {}
            for index, seed in enumerate(seeds):

                def one_bare(seed: int = seed) -> None:
                    seconds, images[seed] = timed(lambda: bare.render(seed), bare_cpu)
                    bare_s.append(seconds)

                def one_studio(seed: int = seed) -> None:
                    if args.profile:
                        main_profiler.enable()
                    seconds, _ = timed(lambda: studio.render(seed), studio_cpu)
                    if args.profile:
                        main_profiler.disable()
                    studio_s.append(seconds)

                # Alternate which goes first, so drifting machine load hits both alike.
                for action in (one_bare, one_studio) if index % 2 == 0 else (one_studio, one_bare):
                    action()

            worst = 0
            for seed, job in zip(seeds, studio.jobs, strict=True):
                ours = np.asarray(studio.image(job), np.int16)
                theirs = np.asarray(images[seed].convert("RGB"), np.int16)
                assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
                worst = max(worst, int(np.abs(ours - theirs).max()))
            to_start = [(j.started_at - j.queued_at).total_seconds() for j in studio.jobs]
            loads = dict(runner.cache.loads)
        finally:
            studio.close()
            if "report_progress" in locals():
                ProgressReporter.__call__ = report_progress  # type: ignore[method-assign]
            if "latent_preview" in locals():
                diffusers_image._latent_preview = latent_preview

    rest = [e - c for e, c in zip(execute_watch.wall, call_watch.wall, strict=True)]
    # Progress calls per job are many and short: their total spread evenly over the jobs.
    jobs = len(studio_s)
    progress_wall = [sum(progress_watch.wall) / jobs] * jobs
    progress_cpu = [sum(progress_watch.cpu) / jobs] * jobs
    live_wall = [sum(live_watch.wall) / jobs] * jobs
    live_cpu = [sum(live_watch.cpu) / jobs] * jobs
    rest_cpu = [e - c for e, c in zip(execute_watch.cpu, call_watch.cpu, strict=True)]
    outside = [s - e for s, e in zip(studio_s, execute_watch.wall, strict=True)]
    bare_median, studio_median = statistics.median(bare_s), statistics.median(studio_s)
    print(
        f"tiny-sd weights, {args.steps} steps at {args.size}×{args.size}, guidance {GUIDANCE:g}, "
        f"{args.threads} torch thread(s), {args.runs} renders each (new seed each), "
        f"wait poll {args.poll:g} s{', under cProfile' if args.profile else ''}"
    )
    print(
        f"warm-up: bare load {load_bare:.2f} s + first render {warm_bare:.2f} s; "
        f"studio first job (load included) {warm_studio:.2f} s; studio loads {loads}"
    )
    print(f"studio PNG vs bare image: max pixel difference {worst}")
    print(f"{'seconds':40}{'median':>8}{'min–max':>14}{'CPU median':>12}")
    rows: list[tuple[str, list[float], list[float] | None]] = [
        ("bare diffusers call", bare_s, bare_cpu),
        ("studio preview job (submit→done)", studio_s, studio_cpu),
        ("  worker: JobRunner.execute", execute_watch.wall, execute_watch.cpu),
        ("    diffusers call (pipeline._run)", call_watch.wall, call_watch.cpu),
        ("      of which progress reports (mean)", progress_wall, progress_cpu),
        ("      of which live previews (mean)", live_wall, live_cpu),
        ("    the rest (db, png, storage, prov.)", rest, rest_cpu),
        ("  submit, queue, wait (≈ wall − execute)", outside, None),
        ("    of which queued→started", to_start, None),
    ]
    for name, values, cpu in rows:
        cpu_text = f"{statistics.median(cpu):12.3f}" if cpu else f"{'':12}"
        print(f"{name:40}{statistics.median(values):8.3f}{spread(values):>14}{cpu_text}")
    print(
        f"{'studio − bare (medians)':40}{studio_median - bare_median:8.3f}"
        f"{(studio_median / bare_median - 1) * 100:13.1f}%"
    )
    cpu_ratio = statistics.median(studio_cpu) / statistics.median(bare_cpu)
    print(f"cpu_ratio={cpu_ratio:.3f}  (process CPU seconds, all threads: studio / bare)")
    if args.profile:
        report_profile("submitting thread: Studio.preview + Studio.wait", main_profiler, args.runs)
        report_profile("worker thread: JobRunner.execute", worker_profiler, args.runs)
    print(f"overhead_ratio={studio_median / bare_median:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
