"""The Lab: one-off runs and sweeps of catalogue pipelines, presets."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from pipelines.catalogue import PipelineEntry, UnknownPipelineError
from studio.api.renders import RendersArea
from studio.core import lab, lifecycle
from studio.core.errors import Conflict, InvalidInput
from studio.core.models import (
    JobPublic,
    Preset,
    Project,
    ProjectPublic,
    public,
)
from studio.core.validation import plain_text, text


class LabArea(RendersArea):
    def lab_project(self, owner: str | None = None) -> ProjectPublic:
        """The hidden project that holds an owner's Lab renders."""
        owner = self._owner_for(owner)
        with self._session() as session:
            query = select(Project).where(Project.kind == "lab", Project.owner == owner)
            project = session.exec(query).first()
            if project is None:
                project = Project(name="Lab", kind="lab", owner=owner)
                session.add(project)
                session.flush()
            return public(project)

    def lab_run(
        self,
        pipeline: str,
        prompt: str,
        *,
        negative_prompt: str = "",
        seed: int = 0,
        overrides: dict[str, Any] | None = None,
        lora_scale: float | str | None = None,
        memory: list[str] | None = None,
        owner: str | None = None,
        wait: bool = False,
        progress: bool = True,
    ) -> JobPublic:
        """One render of a catalogue pipeline with tweaked parameters (see studio.core.lab.KNOBS;
        `lora_scale` and `memory` options change how it is loaded)."""
        return self.lab_sweep(
            pipeline,
            prompt,
            axes={},
            negative_prompt=negative_prompt,
            seed=seed,
            overrides=overrides,
            lora_scale=lora_scale,
            memory=memory,
            owner=owner,
            wait=wait,
            progress=progress,
        )[0]

    def lab_sweep(
        self,
        pipeline: str,
        prompt: str,
        *,
        axes: dict[str, list[Any]],
        negative_prompt: str = "",
        seed: int = 0,
        overrides: dict[str, Any] | None = None,
        lora_scale: float | str | None = None,
        memory: list[str] | None = None,
        owner: str | None = None,
        wait: bool = False,
        progress: bool = True,
    ) -> list[JobPublic]:
        """A grid over up to two parameters (e.g. seed × guidance), one queued job per cell."""
        prompt = text(prompt, "Prompt", 2000, required=True)
        negative_prompt = text(negative_prompt, "Negative prompt", 1000)
        base = lab.check_overrides(overrides)
        pipeline = self._lab_variant(pipeline, lora_scale, memory)
        seed = lab.check_knob("seed", seed)
        cells = lab.sweep_cells(axes) if axes else [{}]
        owner = self._owner_for(owner)
        project_id = self.lab_project(owner).id
        jobs = []
        with self._session(write=True) as session:
            for cell in cells:
                tweaks = {**base, **{k: v for k, v in cell.items() if k != "seed"}}
                kind, params = lab.lab_params(
                    self.catalogue,
                    pipeline,
                    prompt,
                    negative_prompt,
                    cell.get("seed", seed),
                    tweaks,
                )
                params["cell"] = cell
                request = params["request"]
                self._check_size(request["width"], request["height"], request["duration"])
                jobs.append(
                    lifecycle.submit(
                        session,
                        kind=kind,
                        project_id=project_id,
                        shot_id=None,
                        params=params,
                        owner=owner,
                        max_attempts=self.settings.max_attempts,
                        cost=self._price(params),
                        artifact_available=self._artifact_available,
                        **self._billing(),
                    )
                )
        self._wake(jobs)
        queued = [public(j) for j in jobs]
        return self.wait(queued, progress=progress) if wait else queued

    def _lab_variant(self, pipeline: str, lora_scale: Any, memory: list[str] | None) -> str:
        """The pipeline name a Lab run renders with: the entry itself, or a hidden preset
        holding its load-time options (stored like presets, so any worker can load it)."""
        try:
            entry = self.catalogue.get(pipeline)
        except UnknownPipelineError as exc:
            raise InvalidInput(str(exc), "pipeline") from None
        options = lab.check_load_options(entry, lora_scale, memory)
        if not options:
            return pipeline
        name = lab.hidden_preset_name(pipeline, options)
        if name not in self.catalogue:
            self.save_preset(
                name,
                pipeline,
                {},
                lora_scale=lora_scale,
                memory=memory,
                description=f"Lab variant of {pipeline}",
                _hidden=True,
            )
        return name

    def lab_jobs(self, owner: str | None = None, limit: int = 60) -> list[JobPublic]:
        owner = self._owner_for(owner)
        with self._session() as session:
            query = select(Project.id).where(Project.kind == "lab", Project.owner == owner)
            project_id = session.exec(query).first()
        return [] if project_id is None else self.jobs(project_id, limit=limit)

    def save_preset(
        self,
        name: str,
        pipeline: str,
        overrides: dict[str, Any] | None = None,
        *,
        lora_scale: float | str | None = None,
        memory: list[str] | None = None,
        description: str = "",
        _hidden: bool = False,
    ) -> PipelineEntry:
        """Save tweaks as a catalogue entry that shots and projects can use by `name`:
        per-call `overrides` (studio.core.lab.KNOBS), a LoRA scale and memory options. Presets are
        shared by everyone in the studio; only their maker (or an admin) can change one."""
        # Before the lookups: PostgreSQL cannot even look up a name holding a NUL.
        for value, field in ((name, "name"), (pipeline, "pipeline")):
            if isinstance(value, str):
                plain_text(value, field)
        with self._session() as session:
            existing = session.get(Preset, name) if isinstance(name, str) else None
            if existing is not None and not _hidden and not self._visible(existing.owner):
                raise Conflict(f"Preset {name!r} belongs to someone else; choose another name")
            lab.save_preset(
                session,
                self.catalogue,
                name,
                pipeline,
                overrides or {},
                lora_scale,
                description,
                owner=self.user,
                memory=memory,
                hidden=_hidden,
            )
        self.services.reload_catalogue()
        self.runner.cache.unload(name)  # an updated preset loads afresh
        return self.catalogue.get(name)
