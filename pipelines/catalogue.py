"""The pipeline catalogue: names → what to load and how (configs/pipelines.yaml)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TASKS = ("text-to-image", "image-to-video", "text-to-video")
DEFAULT_CATALOGUE = Path(__file__).resolve().parent.parent / "configs" / "pipelines.yaml"


class UnknownPipelineError(KeyError):
    """A pipeline name that the catalogue does not list."""

    def __init__(self, name: str, known: list[str]):
        super().__init__(name)
        self.name = name
        self.known = known

    def __str__(self) -> str:
        return f"Unknown pipeline {self.name!r}; the catalogue has: {', '.join(self.known)}"


class CatalogueError(ValueError):
    """The catalogue file itself is malformed."""


@dataclass(frozen=True)
class PipelineEntry:
    name: str
    tasks: tuple[str, ...]
    implementation: str
    model_id: str = ""
    revision: str = ""
    cost_factor: float = 1.0
    description: str = ""
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def supports(self, task: str) -> bool:
        return task in self.tasks


class Catalogue:
    """Read-only view over a catalogue file."""

    def __init__(self, entries: Mapping[str, PipelineEntry], source: Path | None = None):
        self._entries = dict(entries)
        self.source = source

    @classmethod
    def load(cls, path: Path | str | None = None) -> Catalogue:
        source = Path(path) if path else DEFAULT_CATALOGUE
        try:
            raw = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
        except FileNotFoundError as exc:
            raise CatalogueError(f"Pipeline catalogue not found: {source}") from exc
        except yaml.YAMLError as exc:
            raise CatalogueError(f"Pipeline catalogue {source} is not valid YAML: {exc}") from exc
        items = raw.get("pipelines") if isinstance(raw, dict) else None
        if not isinstance(items, dict) or not items:
            raise CatalogueError(f"{source}: expected a non-empty 'pipelines:' mapping")
        return cls({name: _entry(name, spec, source) for name, spec in items.items()}, source)

    def get(self, name: str) -> PipelineEntry:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownPipelineError(name, sorted(self._entries)) from None

    def for_task(self, task: str) -> list[PipelineEntry]:
        return [e for e in self._entries.values() if e.supports(task)]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __iter__(self) -> Iterator[PipelineEntry]:
        return iter(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries


def _entry(name: str, spec: Any, source: Path) -> PipelineEntry:
    if not isinstance(spec, dict):
        raise CatalogueError(f"{source}: pipeline {name!r} must be a mapping")
    tasks = spec.get("tasks") or ([spec["task"]] if "task" in spec else [])
    unknown = [t for t in tasks if t not in TASKS]
    if not tasks or unknown:
        raise CatalogueError(f"{source}: pipeline {name!r} needs tasks from {', '.join(TASKS)}")
    if "implementation" not in spec:
        raise CatalogueError(f"{source}: pipeline {name!r} has no 'implementation'")
    return PipelineEntry(
        name=name,
        tasks=tuple(tasks),
        implementation=str(spec["implementation"]),
        model_id=str(spec.get("model_id", "")),
        revision=str(spec.get("revision", "")),
        cost_factor=_cost_factor(name, spec.get("cost_factor", 1.0), source),
        description=str(spec.get("description", "")),
        defaults=dict(spec.get("defaults") or {}),
    )


def _implementation(entry: PipelineEntry) -> Any:
    if entry.implementation == "draft":
        from pipelines.draft import DraftPipeline

        return DraftPipeline
    raise CatalogueError(
        f"Pipeline {entry.name!r} uses implementation {entry.implementation!r}, "
        "which this version of the studio does not provide"
    )


def _cost_factor(name: str, value: Any, source: Path) -> float:
    try:
        factor = float(value)
    except (TypeError, ValueError):
        factor = -1.0
    if not factor >= 0 or factor == float("inf"):
        raise CatalogueError(f"{source}: pipeline {name!r} needs a cost_factor ≥ 0, not {value!r}")
    return factor


def load_pipeline(entry: PipelineEntry) -> Any:
    """Instantiate the implementation an entry names (lazily: heavy imports happen here)."""
    return _implementation(entry)()


def effective_revision(entry: PipelineEntry) -> str:
    """The entry's pinned revision, else the implementation's own (so a redrawn `draft` or an
    updated implementation invalidates cached renders)."""
    return entry.revision or str(getattr(_implementation(entry), "revision", ""))
