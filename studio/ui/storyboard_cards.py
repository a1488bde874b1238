"""The Storyboard tab's cards: one per shot (its preview frame, number, scene) with its prompt,
duration, camera move and seed editable in place, and Save / Regenerate preview / Render clip.

The board is one gr.HTML: its script sends a card's fields and the action as a "submit" event
(`{shot, prompt, duration, camera_move, seed, action}`), a card gaining focus as a "select"
event (`{shot}`), and handles the keyboard shortcuts; storyboard_tab turns them into Studio
calls. Gradio morphs the HTML on each update, so what a creator typed in other cards stays."""

from __future__ import annotations

import html
from typing import Any

from pipelines.requests import CAMERA_MOVES
from studio.api import Studio
from studio.core.models import JobStatus, ShotPublic

# What a card sends, and the actions its buttons (and shortcuts) ask for.
FIELDS = ("prompt", "duration", "camera_move", "seed")
ACTIONS = ("save", "regenerate", "render")

# Buttons and shortcuts send the card's fields; ← → move between cards. Typing in a field
# keeps its keys (only the save shortcut works there). Kept free of backticks and "${":
# Gradio fills its templates as JS template strings.
BOARD_JS = """
const FIELDS = ['prompt', 'duration', 'camera_move', 'seed'];
const cardOf = (node) => (node && node.closest ? node.closest('.sb-card') : null);
const typing = (node) => !!(node && node.matches &&
  node.matches('textarea, input, select, [contenteditable="true"]'));
let current = null;
const send = (card, action) => {
  const data = {shot: Number(card.dataset.shot), action: action};
  for (const name of FIELDS) {
    const field = card.querySelector('[name="' + name + '"]');
    data[name] = field ? field.value : null;
  }
  trigger('submit', data);
};
element.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-action]');
  const card = cardOf(button);
  if (button && card) { send(card, button.dataset.action); }
});
element.addEventListener('focusin', (event) => {
  const card = cardOf(event.target);
  if (!card) { return; }
  element.querySelectorAll('.sb-card.sb-focused').forEach((c) => c.classList.remove('sb-focused'));
  card.classList.add('sb-focused');
  if (card.dataset.shot !== current) {
    current = card.dataset.shot;
    trigger('select', {shot: Number(current)});
  }
});
element.addEventListener('keydown', (event) => {
  const card = cardOf(event.target);
  if (!card || event.isComposing) { return; }
  const key = event.key;
  const mod = event.ctrlKey || event.metaKey;
  if (mod && !event.altKey && (key === 's' || key === 'S' || key === 'Enter')) {
    event.preventDefault();
    send(card, 'save');
    return;
  }
  if (mod || event.altKey || typing(event.target)) { return; }
  if (key === 'r' || key === 'R') {
    event.preventDefault();
    send(card, 'regenerate');
  } else if (key === 'ArrowLeft' || key === 'ArrowRight') {
    const cards = [...element.querySelectorAll('.sb-card')];
    const next = cards[cards.indexOf(card) + (key === 'ArrowRight' ? 1 : -1)];
    if (next) {
      event.preventDefault();
      next.focus();
      next.scrollIntoView({block: 'nearest', inline: 'nearest'});
    }
  }
});
"""

BOARD_CSS = """
.sb-grid { display: grid; gap: 12px;
  grid-template-columns: repeat(auto-fill, minmax(min(100%, 290px), 1fr)); }
.sb-card { display: flex; flex-direction: column; gap: 6px; min-width: 0; padding: 8px;
  border: 1px solid var(--border-color-primary, #d4d4d8); border-radius: 8px;
  background: var(--block-background-fill, #fff); color: var(--body-text-color, #111); }
.sb-card:focus { outline: none; }
.sb-card.sb-focused, .sb-card:focus-visible { border-color: var(--color-accent, #f97316);
  box-shadow: 0 0 0 2px var(--color-accent, #f97316); }
.sb-frame img { display: block; width: 100%; height: auto; border-radius: 4px;
  background: #c8c8cd; }
.sb-empty { display: flex; align-items: center; justify-content: center; width: 100%;
  border-radius: 4px; background: #c8c8cd; color: #333; font-size: 0.9rem; text-align: center;
  padding: 4px; box-sizing: border-box; }
.sb-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 2px 8px;
  overflow-wrap: anywhere; word-break: normal; white-space: normal; line-height: 1.3; }
.sb-num { font-weight: 700; }
.sb-scene { font-size: 0.9rem; }
.sb-size { font-size: 0.8rem; opacity: 0.75; }
.sb-card label { display: flex; flex-direction: column; gap: 2px; min-width: 0;
  font-size: 0.8rem; font-weight: 600; white-space: nowrap; }
.sb-card textarea, .sb-card input, .sb-card select { width: 100%; box-sizing: border-box;
  min-width: 0; margin: 0; padding: 4px 6px; font: inherit; font-size: 0.9rem; font-weight: 400;
  border: 1px solid var(--input-border-color, #d4d4d8); border-radius: 4px;
  background: var(--input-background-fill, #fff); color: var(--body-text-color, #111); }
.sb-card select { appearance: auto; -webkit-appearance: menulist; padding: 3px 4px; }
.sb-card textarea { resize: vertical; field-sizing: content; min-height: 4.6em;
  max-height: 16em; line-height: 1.35; white-space: pre-wrap; overflow-wrap: anywhere; }
.sb-fields { display: flex; flex-wrap: wrap; gap: 6px; }
.sb-fields .sb-duration { flex: 1 1 6em; }
.sb-fields .sb-move { flex: 2 1 8em; }
.sb-fields .sb-seed { flex: 2 1 8.5em; }
.sb-actions { display: flex; flex-wrap: wrap; gap: 6px; }
.sb-btn { flex: 1 1 auto; margin: 0; padding: 5px 8px; line-height: 1.3; border-radius: 6px;
  cursor: pointer; font-size: 0.85rem;
  border: 1px solid var(--button-secondary-border-color, #d4d4d8);
  background: var(--button-secondary-background-fill, #f4f4f5);
  color: var(--button-secondary-text-color, #111); }
.sb-btn.sb-primary { border-color: var(--button-primary-border-color, #f97316);
  background: var(--button-primary-background-fill, #f97316);
  color: var(--button-primary-text-color, #fff); }
.sb-keys { margin: 10px 0 0; font-size: 0.8rem; opacity: 0.8; line-height: 1.8; }
.sb-keys kbd { padding: 0 4px; border: 1px solid var(--border-color-primary, #d4d4d8);
  border-radius: 3px; font-size: 0.75rem; }
.sb-none { opacity: 0.8; }
"""

KEYS_HINT = (
    '<p class="sb-keys" id="storyboard-keys">On a card: <kbd>Ctrl</kbd>/<kbd>⌘</kbd>+<kbd>S</kbd>'
    " or <kbd>Ctrl</kbd>/<kbd>⌘</kbd>+<kbd>Enter</kbd> saves it (also while typing) · "
    "<kbd>R</kbd> regenerates its preview · <kbd>←</kbd> <kbd>→</kbd> move to the previous "
    "or next card (outside the text fields)</p>"
)


def shown(shot: ShotPublic) -> dict[str, str]:
    """A card's fields as it shows them: what counts as unchanged when it is sent back."""
    return {
        "prompt": shot.prompt,
        "duration": f"{round(shot.duration, 2):g}",
        "camera_move": shot.camera_move,
        "seed": str(shot.seed),
    }


def changes(shot: ShotPublic, sent: dict[str, Any]) -> dict[str, Any]:
    """The fields a card sent that differ from the shot (left out: unchanged, so that saving a
    prompt does not pin the duration a spoken line set). Values go to the studio as sent: it
    validates them, with the same messages as anywhere else."""
    before = shown(shot)
    out: dict[str, Any] = {}
    for name in FIELDS:
        if name not in sent or sent[name] is None:
            continue
        value = sent[name]
        if name in ("duration", "seed"):
            if _same_number(value, before[name]):
                continue
        elif str(value) == before[name]:
            continue
        out[name] = value
    return out


def _same_number(value: Any, before: str) -> bool:
    try:
        return float(value) == float(before)
    except (TypeError, ValueError):
        return False


def board_html(view: Studio, project_id: int | None) -> str:
    """The cards of a project's shots, in order, and the keyboard hint under them."""
    if project_id is None:
        return ""
    shots = view.shots(project_id)
    if not shots:
        return (
            '<p class="sb-none">No shots yet: break down a script on the '
            "Script &amp; shots tab.</p>"
        )
    project = view.project(project_id)
    aspect = f"{project.width} / {project.height}"
    cards = "".join(card_html(view, n, shot, aspect) for n, shot in enumerate(shots, 1))
    return f'<div class="sb-grid">{cards}</div>{KEYS_HINT}'


def card_html(view: Studio, number: int, shot: ShotPublic, aspect: str) -> str:
    values = shown(shot)
    moves = "".join(
        f'<option value="{m}"{" selected" if m == shot.camera_move else ""}>{m}</option>'
        for m in CAMERA_MOVES
    )
    scene = html.escape(shot.scene) if shot.scene else "No scene"
    rows = min(8, max(3, len(shot.prompt) // 34 + 1))  # where field-sizing is unknown
    return (
        f'<article class="sb-card" tabindex="0" data-shot="{shot.id}" data-number="{number}" '
        f'aria-label="Shot {number}">'
        f'<div class="sb-frame">{_frame(view, number, shot, aspect)}</div>'
        f'<div class="sb-head"><span class="sb-num">Shot {number}</span>'
        f'<span class="sb-scene">{scene}</span>'
        f'<span class="sb-size">{html.escape(shot.shot_size)}</span></div>'
        f'<label>Prompt<textarea name="prompt" rows="{rows}">{html.escape(values["prompt"])}'
        "</textarea></label>"
        '<div class="sb-fields">'
        '<label class="sb-duration">Duration (s)<input type="number" name="duration" '
        f'step="any" min="0" value="{values["duration"]}"></label>'
        f'<label class="sb-move">Camera move<select name="camera_move">{moves}</select></label>'
        '<label class="sb-seed">Seed<input type="number" name="seed" step="1" min="0" '
        f'value="{values["seed"]}"></label>'
        "</div>"
        '<div class="sb-actions">'
        '<button type="button" class="sb-btn sb-primary" data-action="save" '
        'aria-keyshortcuts="Control+S Meta+S Control+Enter">Save</button>'
        '<button type="button" class="sb-btn" data-action="regenerate" aria-keyshortcuts="R">'
        "Regenerate preview</button>"
        '<button type="button" class="sb-btn" data-action="render">Render clip</button>'
        "</div></article>"
    )


def _frame(view: Studio, number: int, shot: ShotPublic, aspect: str) -> str:
    """The shot's preview frame by a short-lived link, or a grey panel saying why not."""
    note = "No preview yet"
    if shot.preview_job_id is not None:
        job = view.job(shot.preview_job_id)
        if job.artifact_id is not None:
            link = view.signed_link(job.artifact_id, f"shot-{number}.png")
            return f'<img src="{html.escape(link)}" alt="Preview of shot {number}">'
        if job.status == JobStatus.failed.value:
            note = f"Preview failed: {job.error or 'see the Render queue'}"
        elif not JobStatus(job.status).finished:
            note = f"Preview {job.status}…"
    return f'<div class="sb-empty" style="aspect-ratio: {aspect}">{html.escape(note)}</div>'
