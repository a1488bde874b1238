"""An optional prompt writer: a transformers text-generation model that expands a terse shot
line ("a ladder against an apple tree") into a detailed image/video prompt.

Off by default: the rule-based breakdown writes every shot's prompt; a studio calls a writer
only when someone asks for it. A catalogue entry with `tasks: [text-generation]` and
`implementation: transformers-text` names the model (a hub id or a local folder); its
`defaults` may set `template` (a `str.format` string with `{line}` and optionally `{style}`),
`max_new_tokens` and `temperature` (0: greedy).

    writer = load_pipeline(catalogue.get("prompt-writer"))
    writer.expand("Two birds fly off.", style="golden hour, 35 mm film", seed=3)

torch and transformers are imported inside functions (through
`diffusers_base.import_library`), so importing this module stays cheap and the catalogue can
ask it for a revision in a torch-free process. Loading, unloading and the revision are
`pipelines.transformers_model.TransformersModel`'s (shared with the VITS voices and CLIP
similarity); it uses the diffusers pipelines' helpers (`pipelines.diffusers_base`) but not
their classes.
"""

from __future__ import annotations

import copy
import logging
import re
import unicodedata
from typing import Any

from pipelines.diffusers_base import (
    first_line,
    free_accelerator_memory,
    import_library,
    is_out_of_memory,
)
from pipelines.entries import PipelineEntry
from pipelines.errors import OutOfMemoryError
from pipelines.transformers_model import TransformersModel

__all__ = ["DEFAULT_TEMPLATE", "MAX_CHARS", "PromptWriter", "tidy"]

log = logging.getLogger(__name__)

DEFAULT_TEMPLATE = (
    "Rewrite the film shot below as one detailed prompt for an image generation model. "
    "Describe the subject, setting, composition, camera, lighting and mood in a single "
    "line of at most 60 words. Reply with the prompt only.\n"
    "Visual style: {style}\n"
    "Shot: {line}\n"
)
DEFAULT_MAX_NEW_TOKENS = 96
DEFAULT_TEMPERATURE = 0.7
MAX_CHARS = 400  # longest expansion returned; longer text is cut at a word boundary

_LABEL = re.compile(
    r"^[\s*_#>]*(?:detailed |expanded |image |final )?prompt[\s*_]*:[\s*_]*", re.IGNORECASE
)
_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’", "«": "»", "`": "`"}


class PromptWriter(TransformersModel):
    """A catalogue entry's causal language model: loaded once, one generation at a time
    (the lifecycle is `TransformersModel`'s)."""

    def __init__(self, entry: PipelineEntry, *, device: str = "", dtype: str = "") -> None:
        super().__init__(entry, device=device, dtype=dtype)
        defaults = entry.defaults
        self.template = str(defaults.get("template") or DEFAULT_TEMPLATE)
        self.max_new_tokens = int(defaults.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS))
        self.temperature = float(defaults.get("temperature", DEFAULT_TEMPERATURE))

    def _load_parts(self, transformers: Any, dtype: Any) -> tuple[Any, Any]:
        tokenizer = self._pretrained(transformers.AutoTokenizer.from_pretrained)
        model = self._pretrained(transformers.AutoModelForCausalLM.from_pretrained, dtype=dtype)
        return model, tokenizer

    def settings(self) -> dict[str, Any]:
        """What an expansion uses, resolved (for provenance)."""
        return {
            "pipeline": self.name,
            "model_id": self.model_id,
            "revision": self.revision,
            "device": self.device or self.device_spec,
            "dtype": self.dtype or self.dtype_spec,
            "template": self.template,
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
        }

    def build_prompt(self, line: str, style: str = "") -> str:
        """The instruction for one shot: the entry's template (or DEFAULT_TEMPLATE) with
        `{line}` and `{style}` filled in verbatim (an empty style leaves its slot empty). An
        instruct model with a chat template gets it as the user message."""
        return self.template.format(line=line.strip(), style=style.strip())

    def model_input(self, line: str, style: str = "") -> str:
        """The text the model is given for one shot: `build_prompt`, wrapped in the
        tokenizer's chat template as a user turn when it has one (loads the model)."""
        instruction = self.build_prompt(line, style)
        with self._lock:
            self.load()
            tokenizer = self._tokenizer
            if not getattr(tokenizer, "chat_template", None):
                return instruction
            messages = [{"role": "user", "content": instruction}]
            return str(
                tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            )

    def expand(
        self,
        line: str,
        *,
        style: str = "",
        seed: int = 0,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
    ) -> str:
        """A detailed prompt for the shot `line`: the model's new text only, as one line of at
        most MAX_CHARS characters (see `tidy`).

        The same line, style, seed and settings give the same text (sampling at `temperature`,
        default the entry's, is seeded with `seed`; temperature 0 is greedy and ignores it).
        `max_new_tokens` defaults to the entry's. An empty or whitespace-only `line` returns ""
        without running the model. When the model returns nothing usable (empty, whitespace or
        no letters/digits), or the instruction does not fit its context, the original line
        (whitespace collapsed to single spaces) is returned instead."""
        original = " ".join(line.split())
        if not original:
            return ""
        new_tokens = self.max_new_tokens if max_new_tokens is None else int(max_new_tokens)
        if new_tokens < 1:
            raise ValueError(f"max_new_tokens must be ≥ 1, not {max_new_tokens!r}")
        heat = self.temperature if temperature is None else float(temperature)
        if not heat >= 0:
            raise ValueError(f"temperature must be ≥ 0, not {temperature!r}")
        text = self._generate(self.model_input(original, style), seed, new_tokens, heat)
        return tidy(text) or original

    # -- generation --------------------------------------------------------------------------

    def _generate(self, text: str, seed: int, new_tokens: int, temperature: float) -> str:
        """The model's continuation of `text` (a `model_input`), decoded, untidied."""
        torch = import_library("torch")
        with self._lock:
            self.load()
            model, tokenizer = self._model, self._tokenizer
            # Text from a chat template already holds its special tokens.
            chat = bool(getattr(tokenizer, "chat_template", None))
            encoded = tokenizer(text, return_tensors="pt", add_special_tokens=not chat)
            encoded = {key: value.to(self.device) for key, value in encoded.items()}
            length = int(encoded["input_ids"].shape[1])
            context = _context_length(model)
            if context and length + new_tokens > context:
                log.warning(
                    "%s: the instruction (%d tokens) + %d new tokens exceed the model's "
                    "context of %d; keeping the line as it is",
                    self.name,
                    length,
                    new_tokens,
                    context,
                )
                return ""
            config = self._generation_config(model, tokenizer, new_tokens, temperature)
            devices = (
                [torch.device(self.device).index or 0] if self.device.startswith("cuda") else []
            )
            try:
                with torch.random.fork_rng(devices=devices), torch.inference_mode():
                    torch.manual_seed(seed)
                    output = model.generate(**encoded, generation_config=config)
            except Exception as exc:
                if is_out_of_memory(exc, torch):
                    free_accelerator_memory()
                    raise OutOfMemoryError(self.name, "generating with", first_line(exc)) from exc
                raise
        return str(tokenizer.decode(output[0, length:], skip_special_tokens=True))

    @staticmethod
    def _generation_config(model: Any, tokenizer: Any, new_tokens: int, temperature: float) -> Any:
        """The model's own generation config (stop tokens, top_p…) with our length and
        sampling; greedy clears the sampling knobs so transformers does not warn about them."""
        config = copy.deepcopy(model.generation_config)
        config.max_new_tokens = new_tokens
        config.max_length = None
        config.num_return_sequences = 1
        if temperature > 0:
            config.do_sample, config.temperature = True, temperature
        else:
            config.do_sample = False
            config.temperature = config.top_p = config.top_k = config.min_p = None
        if config.pad_token_id is None:
            pad = tokenizer.pad_token_id
            config.pad_token_id = pad if pad is not None else tokenizer.eos_token_id
        return config


def _context_length(model: Any) -> int:
    """The model's context window in tokens (0: unknown)."""
    config = model.config
    getter = getattr(config, "get_text_config", None)
    text_config = getter() if getter is not None else config
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(text_config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return 0


def tidy(text: str, limit: int = MAX_CHARS) -> str:
    """A model's reply as one prompt line, or "" when nothing usable is left.

    Takes the first non-empty line (skipping a lead-in such as "Here is the prompt:" that a
    later line follows), drops control characters and undecodable bytes (U+FFFD), collapses
    whitespace, removes a "Prompt:" label and quotes around the whole line, and cuts text
    longer than `limit` at a word boundary. A line without any letter or digit is unusable."""
    lines = [_clean(piece) for piece in text.splitlines()]
    lines = [piece for piece in lines if piece]
    if len(lines) > 1 and lines[0].rstrip("*_ ").endswith(":"):
        lines = lines[1:]  # "Sure! Here is a detailed prompt:" or "**Prompt:**" on its own
    if not lines:
        return ""
    line = _unquote(_LABEL.sub("", _unquote(lines[0])).strip())
    if len(line) > limit:
        cut = line[:limit]
        space = cut.rfind(" ")
        line = (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:-–—")
    return line if any(ch.isalnum() for ch in line) else ""


def _clean(text: str) -> str:
    kept = (
        " " if ch == "\ufffd" or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") else ch
        for ch in text
    )
    return " ".join("".join(kept).split())


def _unquote(text: str) -> str:
    if len(text) >= 2 and _QUOTES.get(text[0]) == text[-1]:
        return text[1:-1].strip()
    return text
