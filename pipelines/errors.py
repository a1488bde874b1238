"""Errors a pipeline raises with a message that says what to do next.

They subclass `RuntimeError` (not the studio's errors: `pipelines` never imports `studio`), so
a caller can catch `PipelineError` for everything that is the model's fault, not the request's.
"""

from __future__ import annotations


class PipelineError(RuntimeError):
    """A pipeline could not load or render; the message is meant for the person running it."""


class WeightsUnavailableError(PipelineError):
    """The model's weights are not on this machine and cannot be fetched."""

    def __init__(self, model_id: str, reason: str, hint: str = "") -> None:
        self.model_id = model_id
        self.reason = reason
        self.hint = hint or weights_hint(model_id)
        super().__init__(f"Weights for {model_id!r} are unavailable: {reason}. {self.hint}")


class OutOfMemoryError(PipelineError):
    """The device ran out of memory loading or rendering."""

    def __init__(self, name: str, what: str, detail: str = "") -> None:
        self.name = name
        advice = (
            "Try a smaller width/height or fewer frames, or enable memory options in the "
            "pipeline's catalogue entry (memory: {model_cpu_offload: true, vae_tiling: true}; "
            "sequential_cpu_offload: true saves the most and is slowest), or use a smaller dtype "
            "(float16/bfloat16)."
        )
        suffix = f" ({detail})" if detail else ""
        super().__init__(f"Out of memory while {what} pipeline {name!r}{suffix}. {advice}")


def weights_hint(model_id: str) -> str:
    """How to make `model_id` available on a machine without internet access."""
    if looks_like_path(model_id):
        return (
            "Point model_id at a local folder holding a diffusers model (one with "
            "model_index.json), e.g. one saved with save_pretrained."
        )
    return (
        f"Download it with `hf download {model_id}` (`huggingface-cli download` on older hubs) "
        "on a machine with internet, copy the Hugging Face cache over and set HF_HOME to it; "
        "or point model_id at a local folder holding the model."
    )


def looks_like_path(model_id: str) -> bool:
    """A local folder rather than a hub id ("org/name"): absolute, relative-marked or nested."""
    return (
        model_id.startswith(("/", ".", "~"))
        or "\\" in model_id
        or model_id.count("/") > 1
        or (len(model_id) > 1 and model_id[1] == ":")  # C:\ on Windows
    )
