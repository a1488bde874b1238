"""The optional prompt writer on a tiny random GPT-2 loaded from disk, offline.

The model's text is gibberish; what is checked is the contract: loading through the catalogue,
one clean line out, determinism per seed, the template reaching the model, the fallback to the
original line, errors for missing weights, and catalogue validation of the new defaults.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pipelines.cache import PipelineCache
from pipelines.catalogue import (
    Catalogue,
    CatalogueError,
    PipelineEntry,
    effective_revision,
    load_pipeline,
)
from pipelines.errors import WeightsUnavailableError
from pipelines.prompt_writer import MAX_CHARS, PromptWriter, tidy

ROOT = Path(__file__).resolve().parents[2]
LINE = "Two birds fly off the ladder."


@pytest.fixture(scope="module")
def entry(tiny_catalogue: Catalogue) -> PipelineEntry:
    return tiny_catalogue.get("tiny-prompt-writer")


@pytest.fixture(scope="module")
def writer(entry: PipelineEntry) -> Any:
    return load_pipeline(entry)


def _with_defaults(entry: PipelineEntry, **defaults: Any) -> PipelineEntry:
    return dataclasses.replace(entry, defaults={**entry.defaults, **defaults})


# -- loading -----------------------------------------------------------------------------------


def test_loads_through_the_catalogue(entry: PipelineEntry, writer: Any) -> None:
    assert entry.tasks == ("text-generation",) and entry.implementation == "transformers-text"
    assert isinstance(writer, PromptWriter) and writer.loaded
    assert (writer.device, writer.dtype) == ("cpu", "float32")
    assert (writer.max_new_tokens, writer.temperature) == (16, 0.0)
    assert writer.memory_bytes() > 0
    assert effective_revision(entry).startswith("folder-") and writer.revision
    assert writer.settings()["model_id"] == entry.model_id


def test_the_pipeline_cache_loads_and_unloads_it(entry: PipelineEntry) -> None:
    cache = PipelineCache()
    loaded = cache.get(entry)
    assert cache.get(entry) is loaded and cache.loads[entry.name] == 1
    cache.unload(entry.name)
    assert not loaded.loaded and loaded.memory_bytes() == 0


# -- expanding -----------------------------------------------------------------------------------


def test_expand_returns_one_clean_line(writer: Any) -> None:
    for seed in range(3):
        for temperature in (0.0, 1.0):
            text = writer.expand(LINE, style="noir", seed=seed, temperature=temperature)
            assert isinstance(text, str) and text and text == text.strip()
            assert "\n" not in text and "\r" not in text and "\ufffd" not in text
            assert len(text) <= MAX_CHARS


def test_an_empty_line_stays_empty_without_running_the_model(writer: Any) -> None:
    def boom(*args: Any) -> str:
        raise AssertionError("the model ran")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(writer, "_generate", boom)
        assert writer.expand("") == "" and writer.expand(" \n\t ") == ""


def test_expand_is_deterministic_per_seed(writer: Any) -> None:
    torch = pytest.importorskip("torch")
    sampled = [writer.expand(LINE, seed=seed, temperature=1.0) for seed in range(4)]
    assert sampled == [writer.expand(LINE, seed=seed, temperature=1.0) for seed in range(4)]
    assert len(set(sampled)) > 1  # sampling follows the seed…
    greedy = {writer.expand(LINE, seed=seed) for seed in range(3)}
    assert len(greedy) == 1  # …greedy (the entry's temperature 0) ignores it
    # The caller's RNG is left alone.
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    writer.expand(LINE, seed=9, temperature=1.0)
    assert torch.equal(torch.rand(3), expected)


def test_max_new_tokens_bounds_the_new_text(writer: Any) -> None:
    short = writer._generate(writer.model_input(LINE), 0, 2, 0.0)
    longer = writer._generate(writer.model_input(LINE), 0, 16, 0.0)
    assert len(short) <= 2 < len(longer)  # a byte token decodes to at most one character
    with pytest.raises(ValueError, match="max_new_tokens"):
        writer.expand(LINE, max_new_tokens=0)
    with pytest.raises(ValueError, match="temperature"):
        writer.expand(LINE, temperature=-1.0)


def test_the_template_reaches_the_model(entry: PipelineEntry) -> None:
    writer = PromptWriter(_with_defaults(entry, template="SHOT<{line}> STYLE<{style}> {{x}}"))
    assert not writer.loaded  # build_prompt needs no model
    assert writer.build_prompt(" a b ", " noir ") == "SHOT<a b> STYLE<noir> {x}"
    seen: list[str] = []

    def fake(text: str, seed: int, new_tokens: int, temperature: float) -> str:
        seen.append(text)
        return '\n  "Prompt: A wide shot of two birds leaving a ladder, dusk light."\nNotes: …'

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(writer, "_generate", fake)
        text = writer.expand(f"  {LINE}\n", style="noir", seed=2)
    assert seen == [f"SHOT<{LINE}> STYLE<noir> {{x}}"]  # no chat template: sent as is
    assert text == "A wide shot of two birds leaving a ladder, dusk light."
    # The real model runs on the templated text too.
    assert "\n" not in writer.expand(LINE, style="noir")


@pytest.mark.parametrize("reply", ["", "   \n\t\n", "\ufffd\ufffd", "...", "\x0b\x0c"])
def test_an_unusable_reply_falls_back_to_the_line(writer: Any, reply: str) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(writer, "_generate", lambda *args: reply)
        assert writer.expand(f" {LINE}\n  again ") == f"{LINE} again"


def test_a_line_too_long_for_the_context_is_kept(writer: Any) -> None:
    line = "a very long shot line " * 60  # > 1024 byte tokens with the template
    assert writer.expand(line) == line.strip()


def test_an_instruct_model_gets_its_chat_template(entry: PipelineEntry) -> None:
    writer = PromptWriter(entry).load()
    writer._tokenizer.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    text = writer.model_input(LINE, "noir")
    assert text.startswith("<|user|>") and text.endswith("<|assistant|>")
    assert writer.build_prompt(LINE, "noir") in text
    out = writer.expand(LINE, style="noir")
    assert out and "\n" not in out


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("  A red door.  ", "A red door."),
        (
            "Sure! Here is a detailed prompt:\n\nA red door, rain.\nAnother line",
            "A red door, rain.",
        ),
        ("**Prompt:** 'A red door'", "A red door"),
        ("“A red door at night”", "A red door at night"),
        ("A\x00 red\u200b door\ufffd", "A red door"),
        ("A red door:\n", "A red door:"),
        ("\n\n", ""),
        ("?!", ""),
    ],
)
def test_tidy(reply: str, expected: str) -> None:
    assert tidy(reply) == expected


def test_tidy_cuts_long_text_at_a_word() -> None:
    text = tidy("word " * 200)
    assert len(text) <= MAX_CHARS and text.endswith("word") and text.startswith("word word")
    assert tidy("x" * 1000, limit=50) == "x" * 50


# -- errors ------------------------------------------------------------------------------------


def test_missing_weights_name_the_model(entry: PipelineEntry, tmp_path: Path) -> None:
    folder = tmp_path / "no-such-model"
    with pytest.raises(WeightsUnavailableError, match="no-such-model") as info:
        load_pipeline(dataclasses.replace(entry, model_id=str(folder)))
    assert info.value.model_id == str(folder)
    (tmp_path / "empty").mkdir()
    with pytest.raises(WeightsUnavailableError, match=r"has no config\.json"):
        load_pipeline(dataclasses.replace(entry, model_id=str(tmp_path / "empty")))
    # A hub id that is not cached, with HF_HUB_OFFLINE set (offline_hub): no download tried.
    with pytest.raises(WeightsUnavailableError, match="HF_HUB_OFFLINE") as info:
        load_pipeline(dataclasses.replace(entry, model_id="studio-tests/not-cached"))
    assert info.value.model_id == "studio-tests/not-cached"
    assert "hf download studio-tests/not-cached" in str(info.value)


# -- catalogue (no torch needed) ---------------------------------------------------------------


def _writer_yaml(tmp_path: Path, defaults: str) -> Path:
    path = tmp_path / "pipelines.yaml"
    path.write_text(
        "pipelines:\n  w:\n    tasks: [text-generation]\n    implementation: transformers-text\n"
        f"    model_id: org/model\n    defaults: {defaults}\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("defaults", "message"),
    [
        ("{template: 'Expand: {style}'}", "defaults.template must be a string with a {line}"),
        ("{template: '{line} for {who}'}", "defaults.template must be"),
        ("{template: '{line} {'}", "defaults.template must be"),
        ("{template: '{line[0]}'}", "defaults.template must be"),
        ("{template: 3}", "defaults.template must be"),
        ("{max_new_tokens: 0}", r"defaults.max_new_tokens must be an integer ≥ 1, not 0"),
        ("{max_new_tokens: 1.5}", "defaults.max_new_tokens must be an integer ≥ 1"),
        ("{max_new_tokens: true}", "defaults.max_new_tokens must be an integer ≥ 1"),
        ("{temperature: -0.1}", "defaults.temperature must be a number ≥ 0"),
        ("{temperature: hot}", "defaults.temperature must be a number ≥ 0"),
    ],
)
def test_catalogue_rejects_bad_writer_defaults(tmp_path: Path, defaults: str, message: str) -> None:
    with pytest.raises(CatalogueError, match=message):
        Catalogue.load(_writer_yaml(tmp_path, defaults))


def test_catalogue_reads_writer_defaults(tmp_path: Path) -> None:
    path = _writer_yaml(
        tmp_path,
        "{template: 'Shot {line!s} ({style}) {{json}}', max_new_tokens: 8, temperature: 0}",
    )
    entry = Catalogue.load(path).get("w")
    assert entry.supports("text-generation")
    writer = PromptWriter(entry)
    assert (writer.max_new_tokens, writer.temperature) == (8, 0.0)
    assert writer.build_prompt("x", "y") == "Shot x (y) {json}"
    assert PromptWriter.revision_for(entry) == ""  # not cached, nothing imported


def test_the_shipped_prompt_writer_entry() -> None:
    entry = Catalogue.load().get("prompt-writer")
    assert entry.tasks == ("text-generation",) and entry.implementation == "transformers-text"
    assert "off by default" in entry.description
    prompt = PromptWriter(entry).build_prompt("A ladder against a tree.", "")
    assert "Shot: A ladder against a tree." in prompt


def test_importing_the_writer_stays_light() -> None:
    code = (
        "import sys, pipelines.prompt_writer, pipelines.catalogue as c\n"
        "c._implementation(c.Catalogue.load().get('prompt-writer'))\n"
        "heavy = ('torch', 'transformers', 'diffusers', 'studio')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
