"""Buttons drawn inside an HTML component that the page draws anew while they are used (the
Render queue table refreshes on its job events, the Review tab's takes on a refresh).

A browser sends no `click` when the element pressed is replaced before the release, so a
click landing on a redraw was lost (CI's review journey failed on it now and then; on the
queue table, which redraws up to once a second while jobs run, a Cancel could be). With
`ACTIVATE_JS` in a component's `js_on_load`, `activate(selector, keyOf, act)` makes such a
button act on release over the button it was pressed on, or over that same button drawn
again (`keyOf` says which button an element is: an action and its job, say). A click with
no pointer behind it (Enter or Space, assistive technology: `detail` 0) acts at once."""

from __future__ import annotations

ACTIVATE_JS = """
const activate = (selector, keyOf, act) => {
  let pressed = null;
  const find = (event) => {
    const found = event.target.closest(selector);
    return found && element.contains(found) ? found : null;
  };
  element.addEventListener('pointerdown', (event) => {
    const found = event.button === 0 ? find(event) : null;
    pressed = found ? keyOf(found) : null;
  });
  element.addEventListener('pointerup', (event) => {
    const found = find(event), wanted = pressed;
    pressed = null;
    if (found && wanted !== null && keyOf(found) === wanted) { act(found); }
  });
  element.addEventListener('click', (event) => {
    const found = find(event);
    if (found && event.detail === 0) { act(found); }
  });
};
"""
