"""GPU check: the studio vs bare diffusers on full-size random-weight models, in one run.

For a lent GPU machine with no internet and about ten minutes. Builds the full-size
random-weight pipelines (pipelines.fullsize: the real architectures' configs, seeded random
weights, float16, `*.fp16.safetensors` like the Hub repositories) into a temp folder, or
reuses them from `--cache-dir`, writes a catalogue whose entries are the shipped ones
(configs/pipelines.yaml: dtype, variant, memory options, defaults) with model_id pointing
at those folders, then measures side by side, each case in turn:

- sd-turbo: a studio preview job (`Studio.local`: SQLite, inline queue, the pipeline cache,
  PNG + provenance + storage) vs `from_pretrained` + one call, 1 step at 512²;
- sdxl: the same with SDXL base, 4 steps at 1024², guidance 5 (the shipped entry's);
- batch: sd-turbo, 4 previews submitted together (the runner renders them in one batched
  call, `preview_batch`) vs 4 submitted one after another; bare: one call with 4 prompts vs
  4 calls;
- offload: sdxl with `memory: {model_cpu_offload: true}` vs bare
  `enable_model_cpu_offload()`, and vs the sdxl case without offload;
- svd: a studio clip job of Stable Video Diffusion img2vid-xt (14 frames at 1024×576, 4
  steps, the shipped entry's CPU offload and call arguments; its preview frame rendered
  before the clock starts) vs the bare SVD call on the same picture;
- workers: two studio processes sharing the GPU, each rendering its own queue of sd-turbo
  previews, vs one process rendering both queues: throughput (previews per second).

Bare calls use what the entry says (dtype, variant, offload, VAE tiling), the same prompt,
size, steps, guidance and seeds (`torch.Generator("cpu").manual_seed(seed)` per image, as the
studio). Each side is loaded, warmed with one render, then timed over `--runs` renders with
new seeds (so the render cache never answers); the two sides run one after the other, each
alone on the GPU, so `torch.cuda.max_memory_allocated` (reset before loading) is that side's
peak: weights plus activations. Printed per case: medians, studio/bare ratios, peak GiB;
written to `--out`/gpu_check.json after every case (a run cut short keeps what it measured).
Cases past `--budget` seconds are skipped, not started.

    python benchmarks/gpu_check.py --out DIR [--cache-dir DIR] [--runs N] [--cases a,b]
                                   [--budget S] [--dry-run]

Without a CUDA device it stops at once with a message, unless `--dry-run`: then the same
script runs every case on the CPU with shrunk models (same architectures, tiny widths;
float32, 64 px, 2 steps), to check the script itself in a minute or two.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# Run as a script from anywhere: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is local: never touch the hub

import numpy as np
import yaml
from PIL import Image

CASES = ("sd-turbo", "sdxl", "batch", "offload", "svd", "workers")
PROMPT = "a lighthouse on a cliff in a storm, waves breaking"
WARM_SEED = 999
POLL = 0.01  # Studio.wait's look at the database, s
GIB = 2**30


@dataclass(frozen=True)
class Scale:
    """Sizes of one run: the real ones on a GPU, tiny ones for --dry-run on a CPU."""

    device: str
    dtype: str  # the weights on disk
    variant: str | None
    shrink: bool
    runs: int
    turbo_size: int = 512
    sdxl_size: int = 1024
    sdxl_steps: int = 4
    svd_width: int = 1024
    svd_height: int = 576
    svd_frames: int = 14
    svd_steps: int = 4
    svd_fps: int = 7
    offload_runs: int = 2
    worker_jobs: int = 12  # previews per worker in the two-worker round


def scale_for(dry_run: bool, runs: int | None) -> Scale:
    if dry_run:
        return Scale(
            device="cpu",
            dtype="float32",
            variant=None,
            shrink=True,
            runs=runs or 2,
            turbo_size=64,
            sdxl_size=64,
            sdxl_steps=2,
            svd_width=64,
            svd_height=64,
            svd_frames=4,
            svd_steps=2,
            offload_runs=1,
            worker_jobs=2,
        )
    return Scale(device="cuda", dtype="float16", variant="fp16", shrink=False, runs=runs or 5)


# -- models and catalogue ------------------------------------------------------------------


def needed_models(cases: list[str]) -> list[str]:
    needs = {
        "sd-turbo": ["sd-turbo"],
        "sdxl": ["sdxl"],
        "batch": ["sd-turbo"],
        "offload": ["sdxl"],
        "svd": ["sd-turbo", "svd"],  # the clip animates an sd-turbo preview
        "workers": ["sd-turbo"],
    }
    return sorted({model for case in cases for model in needs[case]})


def build_models(names: list[str], cache: Path, scale: Scale) -> tuple[dict[str, Path], dict]:
    from pipelines.fullsize import make_fullsize

    folders, seconds = {}, {}
    for name in names:
        started = time.perf_counter()
        folders[name] = make_fullsize(
            name,
            cache / name,
            scale.dtype,
            device=scale.device,
            variant=scale.variant,
            shrink=scale.shrink,
        )
        seconds[name] = round(time.perf_counter() - started, 2)
        print(f"built {name} in {seconds[name]:.1f} s: {folders[name]}", flush=True)
    free_memory()
    return folders, seconds


def write_catalogue(folder: Path, models: dict[str, Path], scale: Scale) -> Path:
    """The shipped catalogue plus `gpu-*` entries: the shipped entries' settings, model_id at
    the full-size folders, defaults set to this check's sizes."""
    from pipelines.catalogue import DEFAULT_CATALOGUE

    shipped = yaml.safe_load(DEFAULT_CATALOGUE.read_text(encoding="utf-8"))["pipelines"]

    def entry(base: str, model: str, **defaults: Any) -> dict[str, Any]:
        spec = copy.deepcopy(shipped[base])
        spec["model_id"] = str(models[model])
        spec.pop("variant", None)
        if scale.variant:
            spec["variant"] = scale.variant
        spec["description"] = f"{base} at full size, random weights (benchmarks/gpu_check.py)"
        spec["defaults"] = {**spec.get("defaults", {}), **defaults}
        return spec

    entries = dict(shipped)
    if "sd-turbo" in models:
        size = scale.turbo_size
        entries["gpu-sd-turbo"] = entry("sd-turbo", "sd-turbo", width=size, height=size)
    if "sdxl" in models:
        size, steps = scale.sdxl_size, scale.sdxl_steps
        entries["gpu-sdxl"] = entry("sdxl", "sdxl", steps=steps, width=size, height=size)
        offload = entry("sdxl", "sdxl", steps=steps, width=size, height=size)
        offload["memory"] = {**offload.get("memory", {}), "model_cpu_offload": True}
        entries["gpu-sdxl-offload"] = offload
    if "svd" in models:
        entries["gpu-svd"] = entry(
            "svd",
            "svd",
            steps=scale.svd_steps,
            width=scale.svd_width,
            height=scale.svd_height,
            num_frames=scale.svd_frames,
            fps=scale.svd_fps,
        )
    path = folder / "gpu-pipelines.yaml"
    path.write_text(yaml.safe_dump({"pipelines": entries}, sort_keys=False), encoding="utf-8")
    return path


# -- the two sides -------------------------------------------------------------------------


class Bare:
    """A catalogue entry's model through diffusers alone, set up as the entry says."""

    def __init__(self, spec: dict[str, Any], task: str, device: str) -> None:
        import diffusers
        import torch

        self.torch, self.device = torch, device
        classes = spec.get("pipeline_class") or ""
        name = classes.get(task, "") if isinstance(classes, dict) else classes
        cls = getattr(diffusers, name) if name else diffusers.DiffusionPipeline
        dtype = str(spec.get("dtype", "auto"))  # resolved as the studio resolves it
        if dtype == "auto":
            dtype = "float32" if device == "cpu" else "float16"
        elif dtype == "float16" and device == "cpu":
            dtype = "float32"
        kwargs: dict[str, Any] = {"dtype": getattr(torch, dtype)}
        if spec.get("variant"):
            kwargs["variant"] = spec["variant"]
        self.pipe = cls.from_pretrained(spec["model_id"], **kwargs)
        self.pipe.set_progress_bar_config(disable=True)
        memory = spec.get("memory") or {}
        if memory.get("model_cpu_offload") and device != "cpu":  # as the studio: not on a CPU
            self.pipe.enable_model_cpu_offload(device=device)
        else:
            self.pipe.to(device)
        if memory.get("vae_tiling"):
            self.pipe.vae.enable_tiling()
        if memory.get("vae_slicing"):
            self.pipe.vae.enable_slicing()

    def generators(self, seeds: list[int]) -> list[Any]:
        return [self.torch.Generator("cpu").manual_seed(seed) for seed in seeds]

    def images(self, seeds: list[int], defaults: dict[str, Any]) -> list[Image.Image]:
        output = self.pipe(
            prompt=[PROMPT] * len(seeds),
            height=defaults["height"],
            width=defaults["width"],
            num_inference_steps=defaults["steps"],
            guidance_scale=defaults["guidance"],
            generator=self.generators(seeds),
            output_type="pil",
        )
        return list(output.images)

    def clip(self, seed: int, image: Image.Image, defaults: dict[str, Any]) -> np.ndarray:
        width, height = defaults["width"], defaults["height"]
        still = image.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
        output = self.pipe(
            image=still,
            height=height,
            width=width,
            num_frames=defaults["num_frames"],
            num_inference_steps=defaults["steps"],
            max_guidance_scale=defaults["guidance"],
            fps=round(defaults["fps"]),
            generator=self.generators([seed])[0],
            output_type="np",
            **defaults.get("call", {}),
        )
        return np.asarray(output.frames[0])


@contextmanager
def bare_pipeline(spec: dict[str, Any], task: str, device: str) -> Iterator[Bare]:
    """A `Bare` for the block; its memory is given back after it."""
    bare = Bare(spec, task, device)
    try:
        yield bare
    finally:
        bare.pipe = None
        free_memory()


class InStudio:
    """A local studio (SQLite, local storage, inline queue) with one project."""

    def __init__(
        self,
        data_dir: Path,
        catalogue: Path,
        preview: str,
        *,
        clip: str = "draft",
        aspect: str = "1:1",
        height: int,
        fps: int = 24,
        preview_batch: int = 4,
    ) -> None:
        from studio import Studio

        self.studio = Studio.local(data_dir, pipelines_file=catalogue, preview_batch=preview_batch)
        project = self.studio.create_project(
            "gpu check",
            aspect_ratio=aspect,
            height=height,  # 1:1 at height: the request is height², as the bare call renders
            fps=fps,
            preview_pipeline=preview,
            clip_pipeline=clip,
            chain_clips=False,
        )
        assert project.id is not None
        self.project_id = project.id

    def shots(self, seeds: list[int], duration: float = 1.0) -> list[int]:
        ids = []
        for seed in seeds:
            shot = self.studio.add_shot(self.project_id, PROMPT, seed=seed, duration=duration)
            assert shot.id is not None
            ids.append(shot.id)
        return ids

    def preview(self, shot_ids: list[int]) -> list[Any]:
        return self._done(self.studio.preview(self.project_id, shot_ids))

    def clip(self, shot_ids: list[int]) -> list[Any]:
        return self._done(self.studio.render(self.project_id, shot_ids))

    def _done(self, jobs: list[Any]) -> list[Any]:
        done = self.studio.wait(jobs, progress=False, poll=POLL)
        for job in done:
            if job.status != "succeeded" or job.cache_hit:
                raise RuntimeError(f"job #{job.id}: {job.status} {job.error or job.message}")
        return done

    def image(self, job: Any) -> Image.Image:
        with Image.open(self.studio.artifact_path(job.artifact_id)) as png:
            return png.convert("RGB")

    def unload(self, name: str) -> None:
        self.studio.runner.cache.unload(name)
        free_memory()

    def close(self) -> None:
        self.studio.runner.cache.unload_all()
        self.studio.close()


# -- measuring -----------------------------------------------------------------------------


def free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.empty_cache()


def reset_peak() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def peak_gib() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    torch.cuda.synchronize()
    return round(torch.cuda.max_memory_allocated() / GIB, 2)


def timed(action: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    """Wall seconds of `action(*args)`, and its result."""
    started = time.perf_counter()
    result = action(*args)
    return time.perf_counter() - started, result


def each(action: Callable[..., Any], items: list[Any], *args: Any) -> list[Any]:
    """`action(item, *args)` for each item, one after another."""
    return [action(item, *args) for item in items]


def rounded(values: list[float]) -> list[float]:
    return [round(value, 4) for value in values]


def median(values: list[float]) -> float:
    return round(statistics.median(values), 4)


def timings(
    bare_s: list[float], studio_s: list[float], bare_peak: Any, studio_peak: Any
) -> dict[str, Any]:
    """A case's measured renders, medians, studio/bare ratio and peak GPU memory per side."""
    return {
        "bare_s": rounded(bare_s),
        "studio_s": rounded(studio_s),
        "bare_median_s": median(bare_s),
        "studio_median_s": median(studio_s),
        "ratio": round(median(studio_s) / median(bare_s), 3),
        "bare_peak_gib": bare_peak,
        "studio_peak_gib": studio_peak,
    }


def max_difference(ours: list[Image.Image], theirs: list[Image.Image]) -> int:
    worst = 0
    for a, b in zip(ours, theirs, strict=True):
        pixels_a, pixels_b = np.asarray(a, np.int16), np.asarray(b.convert("RGB"), np.int16)
        if pixels_a.shape != pixels_b.shape:
            return -1
        worst = max(worst, int(np.abs(pixels_a - pixels_b).max()))
    return worst


class Check:
    def __init__(self, args: argparse.Namespace, scale: Scale, tmp: Path) -> None:
        self.args, self.scale, self.tmp = args, scale, tmp
        self.catalogue = Path()
        self.entries: dict[str, Any] = {}
        self.results: dict[str, Any] = {}
        self.build_s: dict[str, float] = {}
        self.seed = 1000  # new seeds for every render: the render cache never answers

    def seeds(self, count: int) -> list[int]:
        self.seed += count
        return list(range(self.seed - count, self.seed))

    def data_dir(self, case: str) -> Path:
        return self.tmp / f"data-{case}"

    def studio(self, case: str, preview: str, **options: Any) -> InStudio:
        return InStudio(self.data_dir(case), self.catalogue, preview, **options)

    # -- cases ---------------------------------------------------------------------------

    def pair(self, case: str, name: str) -> dict[str, Any]:
        """One image per render, the studio's preview job vs the bare call."""
        spec = self.entries[name]
        defaults, runs = spec["defaults"], self.scale.runs
        seeds = self.seeds(runs)
        reset_peak()
        started = time.perf_counter()
        with bare_pipeline(spec, "text-to-image", self.scale.device) as bare:
            bare.images([WARM_SEED], defaults)
            load_bare = time.perf_counter() - started
            bare_s, bare_images = [], []
            for seed in seeds:
                seconds, images = timed(bare.images, [seed], defaults)
                bare_s.append(seconds)
                bare_images += images
            bare_peak = peak_gib()

        reset_peak()
        studio = self.studio(case, name, height=defaults["height"])
        try:
            warm, *measured = studio.shots([WARM_SEED, *seeds])
            load_studio, _ = timed(studio.preview, [warm])
            studio_s, jobs = [], []
            for shot in measured:
                seconds, (job,) = timed(studio.preview, [shot])
                studio_s.append(seconds)
                jobs.append(job)
            studio_images = [studio.image(job) for job in jobs]
            studio_peak = peak_gib()
        finally:
            studio.close()
        free_memory()
        return {
            "entry": name,
            "size": f"{defaults['width']}x{defaults['height']}",
            "steps": defaults["steps"],
            "guidance": defaults["guidance"],
            "bare_load_and_first_render_s": round(load_bare, 2),
            "studio_first_job_with_load_s": round(load_studio, 2),
            **timings(bare_s, studio_s, bare_peak, studio_peak),
            "max_pixel_difference": max_difference(studio_images, bare_images),
        }

    def case_sd_turbo(self) -> dict[str, Any]:
        return self.pair("sd-turbo", "gpu-sd-turbo")

    def case_sdxl(self) -> dict[str, Any]:
        return self.pair("sdxl", "gpu-sdxl")

    def case_offload(self) -> dict[str, Any]:
        saved = self.scale
        self.scale = Scale(**{**asdict(saved), "runs": saved.offload_runs})
        try:
            result = self.pair("offload", "gpu-sdxl-offload")
        finally:
            self.scale = saved
        plain = self.results.get("sdxl")
        if isinstance(plain, dict) and "bare_median_s" in plain:
            result["bare_offload_vs_plain"] = round(
                result["bare_median_s"] / plain["bare_median_s"], 3
            )
            result["studio_offload_vs_plain"] = round(
                result["studio_median_s"] / plain["studio_median_s"], 3
            )
        if self.scale.device == "cpu":
            result["note"] = "offload is skipped on a CPU (studio and bare alike)"
        return result

    def case_batch(self) -> dict[str, Any]:
        """4 previews in one batched call vs 4 calls, on each side."""
        name, count = "gpu-sd-turbo", 4
        spec = self.entries[name]
        defaults = spec["defaults"]
        reset_peak()
        with bare_pipeline(spec, "text-to-image", self.scale.device) as bare:
            bare.images([WARM_SEED] * count, defaults)
            bare_batch, bare_singles = [], []
            for _ in range(self.scale.runs):
                seeds = self.seeds(count)
                bare_batch.append(timed(bare.images, seeds, defaults)[0])
                seeds = self.seeds(count)
                bare_singles.append(timed(each, bare.images, [[s] for s in seeds], defaults)[0])
            bare_peak = peak_gib()

        reset_peak()
        studio = self.studio("batch", name, height=defaults["height"])
        try:
            studio.preview(studio.shots([WARM_SEED]))
            studio.preview(studio.shots([WARM_SEED + 1 + i for i in range(count)]))  # warm batch
            studio_batch, studio_singles = [], []
            for _ in range(self.scale.runs):
                shots = studio.shots(self.seeds(count))
                studio_batch.append(timed(studio.preview, shots)[0])
                shots = studio.shots(self.seeds(count))
                studio_singles.append(timed(each, studio.preview, [[s] for s in shots])[0])
            studio_peak = peak_gib()
        finally:
            studio.close()
        free_memory()
        return {
            "entry": name,
            "previews": count,
            "bare_batch_median_s": median(bare_batch),
            "bare_singles_median_s": median(bare_singles),
            "studio_batch_median_s": median(studio_batch),
            "studio_singles_median_s": median(studio_singles),
            "bare_singles_vs_batch": round(median(bare_singles) / median(bare_batch), 3),
            "studio_singles_vs_batch": round(median(studio_singles) / median(studio_batch), 3),
            "ratio_batch": round(median(studio_batch) / median(bare_batch), 3),
            "ratio_singles": round(median(studio_singles) / median(bare_singles), 3),
            "bare_peak_gib": bare_peak,
            "studio_peak_gib": studio_peak,
        }

    def case_svd(self) -> dict[str, Any]:
        """A clip job (its preview frame rendered beforehand) vs the bare SVD call."""
        spec = self.entries["gpu-svd"]
        defaults, runs, scale = spec["defaults"], self.scale.runs, self.scale
        seeds = self.seeds(runs)
        studio = self.studio(
            "svd",
            "gpu-sd-turbo",
            clip="gpu-svd",
            aspect="1:1" if scale.svd_width == scale.svd_height else "16:9",
            height=scale.svd_height,
            fps=scale.svd_fps,
        )
        try:
            duration = scale.svd_frames / scale.svd_fps  # a shot of exactly the model's frames
            warm, *measured = studio.shots([WARM_SEED, *seeds], duration=duration)
            stills = [studio.image(job) for job in studio.preview([warm, *measured])]
            studio.unload("gpu-sd-turbo")  # previews done: the clip side has the GPU alone
            reset_peak()
            load_studio, _ = timed(studio.clip, [warm])
            studio_s = [timed(studio.clip, [shot])[0] for shot in measured]
            studio_peak = peak_gib()
        finally:
            studio.close()
        free_memory()

        reset_peak()
        started = time.perf_counter()
        with bare_pipeline(spec, "image-to-video", scale.device) as bare:
            frames = bare.clip(WARM_SEED, stills[0], defaults)
            load_bare = time.perf_counter() - started
            bare_s = []
            for seed, still in zip(seeds, stills[1:], strict=True):
                seconds, _ = timed(bare.clip, seed, still, defaults)
                bare_s.append(seconds)
            bare_peak = peak_gib()
        return {
            "entry": "gpu-svd",
            "size": f"{defaults['width']}x{defaults['height']}",
            "frames": defaults["num_frames"],
            "frames_rendered": int(frames.shape[0]),
            "steps": defaults["steps"],
            "memory": spec.get("memory", {}),
            "bare_load_and_first_clip_s": round(load_bare, 2),
            "studio_first_clip_with_load_s": round(load_studio, 2),
            **timings(bare_s, studio_s, bare_peak, studio_peak),
        }

    def case_workers(self) -> dict[str, Any]:
        """Two studio processes on one GPU vs one process with both queues."""
        jobs = self.scale.worker_jobs
        one = self.workers_round(1, 2 * jobs)
        two = self.workers_round(2, jobs)
        return {
            "entry": "gpu-sd-turbo",
            "previews": 2 * jobs,
            "note": "each worker: its own Studio.local (SQLite, inline queue), preview_batch 1",
            "one_worker": one,
            "two_workers": two,
            "throughput_ratio": round(two["previews_per_s"] / one["previews_per_s"], 3),
        }

    def workers_round(self, count: int, jobs: int) -> dict[str, Any]:
        folder = self.tmp / f"workers-{count}"
        folder.mkdir()
        go = folder / "go"
        children = []
        for number in range(count):
            spec = {
                "catalogue": str(self.catalogue),
                "data_dir": str(folder / f"data-{number}"),
                "entry": "gpu-sd-turbo",
                "height": self.entries["gpu-sd-turbo"]["defaults"]["height"],
                "jobs": jobs,
                "seed": self.seeds(jobs)[0],
                "ready": str(folder / f"ready-{number}"),
                "go": str(go),
                "result": str(folder / f"result-{number}.json"),
                "threads": 1 if self.scale.device == "cpu" else 0,
            }
            path = folder / f"worker-{number}.json"
            path.write_text(json.dumps(spec), encoding="utf-8")
            log = (folder / f"worker-{number}.log").open("wb")
            command = [sys.executable, str(Path(__file__).resolve()), "--worker", str(path)]
            children.append((subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), log))
        try:
            deadline = time.monotonic() + 600
            while not all((folder / f"ready-{n}").exists() for n in range(count)):
                for number, (child, _log) in enumerate(children):
                    if child.poll() is not None:
                        raise RuntimeError(
                            f"worker {number} exited early:\n{_tail(folder, number)}"
                        )
                if time.monotonic() > deadline:
                    raise TimeoutError("workers were not ready in 600 s")
                time.sleep(0.05)
            go.touch()  # all loaded and warm: start the clocks together
            for number, (child, _log) in enumerate(children):
                if child.wait(timeout=600) != 0:
                    raise RuntimeError(f"worker {number} failed:\n{_tail(folder, number)}")
        finally:
            for child, log in children:
                if child.poll() is None:
                    child.kill()
                    child.wait()
                log.close()
        results = [
            json.loads((folder / f"result-{n}.json").read_text(encoding="utf-8"))
            for n in range(count)
        ]
        wall = max(r["end"] for r in results) - min(r["start"] for r in results)
        return {
            "workers": count,
            "previews": count * jobs,
            "wall_s": round(wall, 3),
            "previews_per_s": round(count * jobs / wall, 3),
            "peak_gib_per_worker": [r["peak_gib"] for r in results],
        }

    # -- running -------------------------------------------------------------------------

    def run(self, cases: list[str], started: float) -> None:
        for case in cases:
            elapsed = time.perf_counter() - started
            if elapsed > self.args.budget:
                self.results[case] = {"skipped": f"time budget ({self.args.budget:.0f} s) spent"}
                print(f"-- {case}: skipped, {elapsed:.0f} s past the budget", flush=True)
                continue
            print(f"-- {case} ({elapsed:.0f} s in)", flush=True)
            case_started = time.perf_counter()
            try:
                result = getattr(self, "case_" + case.replace("-", "_"))()
            except Exception as exc:  # noqa: BLE001 - one case failing must not lose the rest
                import traceback

                traceback.print_exc()
                result = {"error": f"{type(exc).__name__}: {exc}"}
                free_memory()
            result["case_s"] = round(time.perf_counter() - case_started, 1)
            self.results[case] = result
            print(describe(case, result), flush=True)
            self.save()

    def save(self) -> None:
        import diffusers
        import torch

        summary = {
            "device": device_name(self.scale.device),
            "dry_run": self.args.dry_run,
            "scale": asdict(self.scale),
            "versions": {
                "python": platform.python_version(),
                "torch": torch.__version__,
                "diffusers": diffusers.__version__,
            },
            "build_s": self.build_s,
            "cases": self.results,
        }
        out = Path(self.args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "gpu_check.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")


def _tail(folder: Path, number: int) -> str:
    return (folder / f"worker-{number}.log").read_text(errors="replace")[-3000:]


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return str(torch.cuda.get_device_name(0))
    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def describe(case: str, result: dict[str, Any]) -> str:
    if "error" in result or "skipped" in result:
        return f"{case}: {result.get('error') or result.get('skipped')}"
    if case == "batch":
        return (
            f"{case}: 4 previews batched / one by one, s: bare "
            f"{result['bare_batch_median_s']:.3f} / {result['bare_singles_median_s']:.3f}, "
            f"studio {result['studio_batch_median_s']:.3f} / "
            f"{result['studio_singles_median_s']:.3f}; studio/bare batched "
            f"{result['ratio_batch']:.3f}, one by one {result['ratio_singles']:.3f}; peak GiB "
            f"bare {_gib(result['bare_peak_gib'])}, studio {_gib(result['studio_peak_gib'])}"
        )
    if case == "workers":
        one, two = result["one_worker"], result["two_workers"]
        return (
            f"{case}: previews/s one worker {one['previews_per_s']:.2f}, two workers "
            f"{two['previews_per_s']:.2f} (×{result['throughput_ratio']:.2f}); peak GiB per "
            f"worker {one['peak_gib_per_worker']} / {two['peak_gib_per_worker']}"
        )
    extra = ""
    if "bare_offload_vs_plain" in result:
        extra = (
            f"; vs no offload: bare ×{result['bare_offload_vs_plain']:.2f}, studio "
            f"×{result['studio_offload_vs_plain']:.2f}"
        )
    return (
        f"{case}: median s bare {result['bare_median_s']:.3f}, studio "
        f"{result['studio_median_s']:.3f}, studio/bare {result['ratio']:.3f}; peak GiB bare "
        f"{_gib(result['bare_peak_gib'])}, studio {_gib(result['studio_peak_gib'])}{extra}"
    )


def table(results: dict[str, Any]) -> str:
    rows = [
        f"{'case':10}{'bare s':>10}{'studio s':>10}{'studio/bare':>13}{'bare GiB':>10}"
        f"{'studio GiB':>12}"
    ]
    for case, result in results.items():
        if "bare_median_s" in result:
            bare, studio, ratio = (
                result["bare_median_s"],
                result["studio_median_s"],
                result["ratio"],
            )
        elif "ratio_batch" in result:
            bare, studio = result["bare_batch_median_s"], result["studio_batch_median_s"]
            ratio = result["ratio_batch"]
        else:
            continue
        rows.append(
            f"{case:10}{bare:10.3f}{studio:10.3f}{ratio:13.3f}"
            f"{_gib(result.get('bare_peak_gib')):>10}{_gib(result.get('studio_peak_gib')):>12}"
        )
    return "\n".join(rows)


def _gib(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


# -- a worker process (the workers case) ---------------------------------------------------


def worker(spec_path: Path) -> int:
    """One studio process: load and warm, say ready, wait for go, render its queue."""
    import torch

    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    studio = InStudio(
        Path(spec["data_dir"]),
        Path(spec["catalogue"]),
        spec["entry"],
        height=spec["height"],
        preview_batch=1,  # one preview per call: what is measured is the processes sharing
    )
    try:
        warm, *shots = studio.shots([WARM_SEED] + [spec["seed"] + i for i in range(spec["jobs"])])
        studio.preview([warm])
        reset_peak()
        Path(spec["ready"]).touch()
        deadline = time.monotonic() + 600
        while not Path(spec["go"]).exists():
            if time.monotonic() > deadline:
                raise TimeoutError("no go in 600 s")
            time.sleep(0.002)
        start = time.time()
        studio.preview(shots)  # all queued at once; the inline worker renders them in turn
        end = time.time()
        peak = peak_gib() if torch.cuda.is_available() else None
    finally:
        studio.close()
    result = {"start": start, "end": end, "peak_gib": peak}
    Path(spec["result"]).write_text(json.dumps(result), encoding="utf-8")
    return 0


# -- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("gpu-check"), help="where the JSON goes")
    parser.add_argument("--cache-dir", type=Path, help="build (or reuse) the models here")
    parser.add_argument("--runs", type=int, help="measured renders per side (default 5; dry 2)")
    parser.add_argument(
        "--cases", default=",".join(CASES), help=f"comma-separated, from {','.join(CASES)}"
    )
    parser.add_argument(
        "--budget",
        type=float,
        help="no case starts after this many seconds (default 450, to end within 10 min; dry 110)",
    )
    parser.add_argument("--dry-run", action="store_true", help="tiny models on the CPU")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)  # a workers-case child
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(CASES))
    if unknown or not cases:
        parser.error(f"unknown cases {unknown}; choose from {', '.join(CASES)}")
    args.budget = args.budget or (110.0 if args.dry_run else 450.0)

    started = time.perf_counter()
    import torch

    if not args.dry_run and not torch.cuda.is_available():
        print(
            "gpu_check: no CUDA device is visible (torch.cuda.is_available() is False); this "
            "check measures GPU speed and memory and needs one. Run it on a GPU machine, or "
            "with --dry-run to try the script on the CPU at tiny scale.",
            file=sys.stderr,
        )
        return 2
    scale = scale_for(args.dry_run, args.runs)
    if scale.device == "cpu":
        # Tiny models gain nothing from threads, and the workers case runs processes side
        # by side: spinning torch threads on shared cores slow everything down many-fold.
        torch.set_num_threads(1)
    print(f"device: {device_name(scale.device)}; cases: {', '.join(cases)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        check = Check(args, scale, Path(tmp))
        cache = (args.cache_dir or Path(tmp) / "models").expanduser().resolve()
        models, check.build_s = build_models(needed_models(cases), cache, scale)
        check.catalogue = write_catalogue(Path(tmp), models, scale)
        check.entries = yaml.safe_load(check.catalogue.read_text(encoding="utf-8"))["pipelines"]
        check.run(cases, started)
        check.save()
    print(table(check.results))
    print(f"total {time.perf_counter() - started:.0f} s; summary: {args.out / 'gpu_check.json'}")
    failed = [case for case, result in check.results.items() if "error" in result]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
