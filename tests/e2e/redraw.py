"""A click that a redraw of the page interrupts: the pointer goes down on a button, the HTML
around it is drawn anew (as a refresh of the component does), and the pointer goes up."""

from __future__ import annotations

from typing import Any


def click_across_a_redraw(page: Any, button: Any, redrawn: str) -> None:
    """Press `button` (a Playwright locator), draw the element `redrawn` (a CSS selector)
    anew from its own HTML, then release where the button was."""
    box = button.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.evaluate("(s) => { const e = document.querySelector(s); e.outerHTML = e.outerHTML; }",
                  redrawn)  # fmt: skip
    page.mouse.up()
