"""A per-process cache of loaded pipelines: load once, evict least recently used over budget.

Loading a diffusion model takes seconds to minutes and gigabytes; a worker keeps the models it
used recently and drops the oldest when the sum of their parameter bytes passes the budget.
Thread-safe: concurrent `get`s of one entry load it once; loads of different entries run
side by side; an evicted pipeline unloads once its running render (if any) has finished.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipelines.catalogue import load_pipeline
from pipelines.entries import PipelineEntry
from pipelines.errors import OutOfMemoryError

__all__ = ["PipelineCache"]


@dataclass
class _Slot:
    entry: PipelineEntry
    pipeline: Any
    size: int


class PipelineCache:
    """`get(entry)` returns a loaded pipeline, loading it on first use.

    `budget_bytes=None` never evicts. The newest pipeline always stays, even alone over budget
    (a model bigger than the budget still has to run). `loader` defaults to
    `catalogue.load_pipeline`; sizes come from the pipeline's `memory_bytes()` (0 if none)."""

    def __init__(
        self,
        budget_bytes: int | None = None,
        loader: Callable[[PipelineEntry], Any] = load_pipeline,
    ) -> None:
        if budget_bytes is not None and budget_bytes < 0:
            raise ValueError(f"budget_bytes must be ≥ 0 or None, not {budget_bytes}")
        self.budget_bytes = budget_bytes
        self._loader = loader
        self._slots: OrderedDict[str, _Slot] = OrderedDict()  # least recently used first
        self._lock = threading.Lock()  # guards the maps, never held while loading
        self._name_locks: dict[str, threading.Lock] = {}
        self.loads: dict[str, int] = {}  # name → times loaded in this process
        self.evictions: list[str] = []  # names, in eviction order

    def get(self, entry: PipelineEntry) -> Any:
        hit = self._hit(entry)
        if hit is not None:
            return hit
        with self._name_lock(entry.name):
            hit = self._hit(entry)  # loaded by another thread while we waited
            if hit is not None:
                return hit
            self.unload(entry.name)  # a changed entry under the same name
            pipeline = self._load(entry)
            size = _size(pipeline)
            with self._lock:
                self._slots[entry.name] = _Slot(entry, pipeline, size)
                self.loads[entry.name] = self.loads.get(entry.name, 0) + 1
                victims = self._over_budget(keep=entry.name)
            _release(victims)
            return pipeline

    def unload(self, name: str) -> bool:
        """Drop one pipeline; False if it was not loaded."""
        with self._lock:
            slot = self._slots.pop(name, None)
        if slot is None:
            return False
        _release([slot])
        return True

    def unload_all(self) -> None:
        with self._lock:
            slots = list(self._slots.values())
            self._slots.clear()
        _release(slots)
        _free_accelerator_memory()

    def loaded(self) -> list[str]:
        """Names of loaded pipelines, least recently used first."""
        with self._lock:
            return list(self._slots)

    def memory_bytes(self) -> int:
        with self._lock:
            return sum(slot.size for slot in self._slots.values())

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._slots

    def _hit(self, entry: PipelineEntry) -> Any:
        with self._lock:
            slot = self._slots.get(entry.name)
            if slot is None or slot.entry != entry:
                return None
            self._slots.move_to_end(entry.name)
            return slot.pipeline

    def _name_lock(self, name: str) -> threading.Lock:
        with self._lock:
            return self._name_locks.setdefault(name, threading.Lock())

    def _load(self, entry: PipelineEntry) -> Any:
        try:
            return self._loader(entry)
        except OutOfMemoryError:
            # Other cached models may hold the memory this one needs: drop them, try once more.
            with self._lock:
                others = [s for name, s in self._slots.items() if name != entry.name]
                for slot in others:
                    self._slots.pop(slot.entry.name, None)
                    self.evictions.append(slot.entry.name)
            if not others:
                raise
            _release(others)
            _free_accelerator_memory()
            return self._loader(entry)

    def _over_budget(self, keep: str) -> list[_Slot]:
        """Pop least recently used slots until within budget (caller holds the lock)."""
        victims: list[_Slot] = []
        if self.budget_bytes is None:
            return victims
        total = sum(slot.size for slot in self._slots.values())
        for name in list(self._slots):
            if total <= self.budget_bytes:
                break
            if name == keep:
                continue
            slot = self._slots.pop(name)
            total -= slot.size
            victims.append(slot)
            self.evictions.append(name)
        return victims


def _size(pipeline: Any) -> int:
    measure = getattr(pipeline, "memory_bytes", None)
    return int(measure()) if measure is not None else 0


def _release(slots: list[_Slot]) -> None:
    # Outside the cache lock: unload() waits for a render in progress on that pipeline.
    for slot in slots:
        unload = getattr(slot.pipeline, "unload", None)
        if unload is not None:
            unload()
    if slots:
        _free_accelerator_memory()


def _free_accelerator_memory() -> None:
    import gc
    import sys

    gc.collect()
    torch = sys.modules.get("torch")  # never import torch just to free nothing
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
