"""Lab tab: tweak a catalogue pipeline like a notebook would: one render, or a sweep over up
to two parameters, results side by side; keep a good setting as a preset shots can use."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from pipelines.catalogue import MEMORY_OPTIONS
from studio.api import Studio
from studio.core.lab import HIDDEN_PREFIX, KNOBS, SWEEPABLE
from studio.core.models import JobPublic, JobStatus
from studio.ui.common import Refresh, for_request, guarded, summary, wait_with_progress

KNOB_LABELS = {
    "steps": "Steps",
    "guidance": "Guidance",
    "width": "Width",
    "height": "Height",
    "num_frames": "Frames (video)",
    "strength": "Strength (image-to-video)",
}


def parse_values(text: str, name: str) -> list[Any]:
    """ "1, 2, 3" → [1.0, 2.0, 3.0] (the Lab checks ranges); schedulers stay text."""
    values = [v.strip() for v in (text or "").split(",") if v.strip()]
    if name == "scheduler":
        return values
    try:
        return [float(v) for v in values]
    except ValueError:
        raise gr.Error(
            f"Values for {name} must be numbers separated by commas", print_exception=False
        ) from None


def lora_value(text: str | None) -> str | None:
    return text.strip() if text and text.strip() else None


def caption(job: JobPublic) -> str:
    cell = job.params.get("cell") or {}
    extra = job.params.get("request", {}).get("extra", {})
    shown = {**extra, **cell, "seed": job.params.get("request", {}).get("seed")}
    text = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items())
    return f"#{job.id} {job.params['pipeline']['name']}: {text}"


def results(view: Studio, jobs: list[JobPublic]) -> list[tuple[str, str]]:
    return [
        (str(view.artifact_path(j.artifact_id)), caption(j))
        for j in jobs
        if j.status == JobStatus.succeeded.value and j.artifact_id
    ]


def sweep_grid(view: Studio, jobs: list[JobPublic], axes: dict[str, list[Any]]) -> str:
    """A sweep's results as a grid: the first parameter's values across, the second's down
    (one row without a second), each cell the render with that pair of values."""
    (across, columns), *rest = list(axes.items())
    down, rows = rest[0] if rest else ("", [None])
    by_cell = {}
    for job in jobs:
        cell = job.params.get("cell") or {}
        by_cell[(_key(cell.get(across)), _key(cell.get(down)) if down else None)] = job
    head = "".join(f"<th>{html.escape(f'{across} = {_shown(v)}')}</th>" for v in columns)
    body = []
    for row in rows:
        label = f"<th>{html.escape(f'{down} = {_shown(row)}')}</th>" if down else ""
        cells = "".join(
            f"<td>{_cell(view, by_cell.get((_key(col), _key(row) if down else None)))}</td>"
            for col in columns
        )
        body.append(f"<tr>{label}{cells}</tr>")
    corner = "<th></th>" if down else ""
    return (
        "<div style='overflow-x:auto'><table id='lab-grid-table' style='border-collapse:"
        f"collapse'><thead><tr>{corner}{head}</tr></thead><tbody>{''.join(body)}</tbody>"
        "</table></div>"
    )


def _key(value: Any) -> str:
    return repr(float(value)) if isinstance(value, int | float) else repr(value)


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _cell(view: Studio, job: JobPublic | None) -> str:
    """One render of the grid (a picture, or a clip that plays), or what became of it."""
    if job is None or job.status != JobStatus.succeeded.value or not job.artifact_id:
        state = job.status if job is not None else "missing"
        return f"<div class='lab-cell' style='padding:8px'>#{job.id if job else '—'} {state}</div>"
    video = view.artifact(job.artifact_id).content_type.startswith("video")
    link = view.signed_link(job.artifact_id, f"lab-{job.id}{'.mp4' if video else '.png'}")
    alt = html.escape(caption(job), quote=True)
    media = (
        f"<video src='{link}' controls muted loop style='width:100%'></video>"
        if video
        else f"<img src='{link}' alt='{alt}' style='width:100%'>"
    )
    return (
        f"<figure class='lab-cell' style='margin:0;min-width:160px'>{media}"
        f"<figcaption style='font-size:11px'>#{job.id}</figcaption></figure>"
    )


def build(studio: Studio) -> Refresh:
    renders = ("text-to-image", "text-to-video", "image-to-video")
    names = [
        e.name
        for e in studio.catalogue
        if any(e.supports(t) for t in renders) and not e.name.startswith(HIDDEN_PREFIX)
    ]
    gr.Markdown(
        "Tweak a pipeline and compare. Blank fields use the pipeline's defaults. "
        "Renders go through the render queue like any job."
    )
    with gr.Row():
        with gr.Column(scale=2):
            pipeline = gr.Dropdown(
                names, value=names[0] if names else None, label="Pipeline", elem_id="lab-pipeline"
            )
            prompt = gr.Textbox(label="Prompt", lines=2, elem_id="lab-prompt")
            negative = gr.Textbox(label="Negative prompt")
            with gr.Row():
                seed = gr.Number(label="Seed", value=0, precision=0, minimum=0)
                scheduler = gr.Textbox(
                    label="Scheduler (class name)", placeholder="EulerDiscreteScheduler"
                )
            knobs: dict[str, Any] = {}
            names_ = list(KNOBS)
            for row in (names_[:3], names_[3:]):
                with gr.Row():
                    for name in row:
                        # Text, not Number: blank must mean "the pipeline's default".
                        knobs[name] = gr.Textbox(label=KNOB_LABELS[name], placeholder="default")
            with gr.Row():
                run_lora = gr.Textbox(
                    label="LoRA scale (pipelines with LoRAs)",
                    placeholder="catalogue value",
                    elem_id="lab-lora",
                )
                memory = gr.CheckboxGroup(list(MEMORY_OPTIONS), label="Memory options")
            run = gr.Button("Run", variant="primary", elem_id="lab-run")
        with gr.Column(scale=2):
            gr.Markdown("**Sweep**: a grid over one or two parameters (comma-separated values).")
            with gr.Row():
                axis1 = gr.Dropdown(list(SWEEPABLE), value="seed", label="Parameter 1")
                values1 = gr.Textbox(label="Values", value="1, 2, 3", elem_id="lab-values1")
            with gr.Row():
                axis2 = gr.Dropdown(["", *SWEEPABLE], value="", label="Parameter 2")
                values2 = gr.Textbox(label="Values", elem_id="lab-values2")
            sweep = gr.Button("Run sweep", elem_id="lab-sweep")
            gr.Markdown(
                "**Save as preset**: the settings on the left become a pipeline name "
                "that projects and shots can choose."
            )
            preset_name = gr.Textbox(
                label="Preset name", placeholder="moody-sdxl", elem_id="lab-preset-name"
            )
            save = gr.Button("Save preset", elem_id="lab-save")
    status = gr.Markdown("", elem_id="lab-status")
    grid = gr.HTML("", elem_id="lab-grid")  # a sweep's rows × columns
    gallery = gr.Gallery(
        label="Results", columns=4, height="auto", format="png", elem_id="lab-results"
    )

    def tweaks(sched: str, *values: Any) -> dict[str, Any]:
        found = {name: v.strip() for name, v in zip(knobs, values, strict=True) if v and v.strip()}
        if sched and sched.strip():
            found["scheduler"] = sched.strip()
        return found

    inputs = [pipeline, prompt, negative, seed, run_lora, memory, scheduler, *knobs.values()]

    def listed() -> list[str]:
        return [
            e.name
            for e in studio.catalogue
            if any(e.supports(t) for t in renders) and not e.name.startswith(HIDDEN_PREFIX)
        ]

    # The request comes first: Gradio injects it only among the positional parameters
    # before *values.
    @guarded
    def on_run(
        request: gr.Request,
        name: str,
        text: str,
        neg: str,
        seed_: Any,
        lora: str,
        mem: list[str],
        sched: str,
        *values: Any,
        progress: gr.Progress = gr.Progress(),
    ) -> list[Any]:
        view = for_request(studio, request)
        job = view.lab_run(
            name,
            text,
            negative_prompt=neg,
            seed=seed_ or 0,
            overrides=tweaks(sched, *values),
            lora_scale=lora_value(lora),
            memory=mem or None,
        )
        jobs = wait_with_progress(view, [job], progress, "Lab")
        return [results(view, jobs), summary(jobs, "Lab run"), ""]  # one run: no grid

    @guarded
    def on_sweep(
        request: gr.Request,
        name: str,
        text: str,
        neg: str,
        seed_: Any,
        lora: str,
        mem: list[str],
        sched: str,
        *rest: Any,
        progress: gr.Progress = gr.Progress(),
    ) -> list[Any]:
        view = for_request(studio, request)
        values, (a1, v1, a2, v2) = rest[: len(KNOBS)], rest[len(KNOBS) :]
        axes = {a1: parse_values(v1, a1)}
        if a2:
            if a2 == a1:
                raise gr.Error("Choose two different parameters.", print_exception=False)
            axes[a2] = parse_values(v2, a2)
        jobs = view.lab_sweep(
            name,
            text,
            axes=axes,
            negative_prompt=neg,
            seed=seed_ or 0,
            overrides=tweaks(sched, *values),
            lora_scale=lora_value(lora),
            memory=mem or None,
        )
        jobs = wait_with_progress(view, jobs, progress, "Sweep")
        return [results(view, jobs), summary(jobs, "Sweep"), sweep_grid(view, jobs, axes)]

    @guarded
    def on_save(
        request: gr.Request,
        name: str,
        preset: str,
        lora: str,
        mem: list[str],
        sched: str,
        *values: Any,
    ) -> list[Any]:
        view = for_request(studio, request)
        entry = view.save_preset(
            preset.strip(),
            name,
            tweaks(sched, *values),
            lora_scale=lora_value(lora),
            memory=mem or None,
        )
        return [
            gr.Dropdown(choices=listed(), value=entry.name),
            f"Preset **{entry.name}** saved: choose it as a preview or clip pipeline in a "
            "project's settings or for a shot (switch project or reload the page to see it "
            "in those lists).",
        ]

    ran = run.click(on_run, inputs, [gallery, status, grid])
    swept = sweep.click(
        on_sweep, [*inputs, axis1, values1, axis2, values2], [gallery, status, grid]
    )
    save.click(
        on_save,
        [pipeline, preset_name, run_lora, memory, scheduler, *knobs.values()],
        [pipeline, status],
    )

    def refresh(view: Studio, _project_id: Any) -> list[Any]:
        return [results(view, list(reversed(view.lab_jobs(limit=24))))]

    return Refresh(refresh, [gallery], submits=[ran, swept])
