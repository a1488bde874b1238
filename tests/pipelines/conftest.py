"""The tiny diffusers pipelines, built once per test session (skipped without torch/diffusers)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.catalogue import Catalogue
from tests.conftest import require_service

ML_PACKAGES = ("torch", "diffusers", "transformers")


@pytest.fixture(scope="session")
def offline_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """No hub at run time: HF_HUB_OFFLINE=1 and an empty HF_HOME for the whole session."""
    home = tmp_path_factory.mktemp("hf-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("HF_HOME", str(home))
        yield home


@pytest.fixture(scope="session")
def tiny_catalogue(
    tmp_path_factory: pytest.TempPathFactory, offline_hub: Path
) -> Iterator[Catalogue]:
    missing = [name for name in ML_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        require_service("torch + diffusers", None)  # skips, or fails when CI requires them
    import torch

    from pipelines.tiny import make_tiny

    # Tiny models gain nothing from threads, and torch's spinning worker threads slow down
    # many-fold when the 2 cores are shared with other processes.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield Catalogue.load(make_tiny(tmp_path_factory.mktemp("tiny")))
    finally:
        torch.set_num_threads(threads)
