"""The studio's page layout: one style sheet (`CSS`) for every tab, so the same screens work
on a phone (390 px), a tablet (768 px) and a desktop (1400 px).

Gradio lays a row's children side by side and wraps them only below 160 px each; these
rules, given to `gr.mount_gradio_app(css=...)` by studio/web/app.py, add what a small screen
needs. What each rule is for:

- **HTML components scroll sideways** (`.html-container`): a table a tab writes as HTML (the
  render queue, the workers) scrolls inside its own box when it is wider than the screen,
  instead of running under the next panel or off the page.
- **The shots table** (`#shot-table`): prose in the body font (the prompt is read, not
  coded); its columns have fixed widths (studio/ui/script_tab.py)
  that fill a desktop screen and scroll sideways on a narrow one.
- **Phones (≤ 640 px)**:
  - every row becomes one column: each child of a row (and of a row's group of fields)
    takes the whole width, so nothing is squeezed to a sliver or laid over its neighbour;
  - tap targets: buttons and text and number fields are at least 36 px tall (dropdowns,
    text boxes and the tab bar's 32 px tabs already are), the buttons tabs draw in their
    own HTML (queue rows, review takes, storyboard cards) and a slider's number box
    included.
- **Side margins** grow with the screen: 8 px on a phone, 16 px on a tablet, Gradio's 32 px
  on a desktop, so a small screen's width goes to the content.

The tab bar wraps onto more lines rather than hiding tabs in a menu: that is
`gr.Tabs(overflow_behavior="wrap")` in studio/ui/__init__.py, not CSS.
"""

from __future__ import annotations

PHONE = 640  # px: at most this wide, rows become one column

CSS = f"""
/* Tables a tab writes as HTML scroll sideways inside their own box. */
.gradio-container .html-container {{
  overflow-x: auto;
  max-width: 100%;
}}

/* The shots table: prose in the body font, not the code font. */
#shot-table th,
#shot-table .body-cell,
#shot-table .body-cell span {{
  font-family: var(--font);
}}

/* Side margins that grow with the screen: 8 px on a phone, 16 px on a tablet, 32 px on a
   desktop (Gradio's own). Not in a media query: Gradio confines the rules in those to the
   page's content, and the margins belong to the box around it. */
.gradio-container .main.app {{
  padding-left: clamp(8px, 6vw - 30px, 32px);
  padding-right: clamp(8px, 6vw - 30px, 32px);
}}

/* In a media query Gradio puts ".gradio-container .contain" before each selector. */
@media (max-width: {PHONE}px) {{
  /* One column: each child of a row, and of a row's group of fields, takes the width. */
  .row > *,
  .row > .form > * {{
    flex: 1 1 100% !important;
    min-width: 100% !important;
  }}
  /* Tap targets. */
  button.lg,
  button.md,
  button.sm,
  .html-container button,
  input[type="number"],
  input[type="text"]:not(.border-none),
  input[type="password"] {{
    min-height: 36px;
  }}
  /* A slider's number box and reset button: as tall as their taller input. */
  .tab-like-container {{
    height: auto;
  }}
  .tab-like-container > button {{
    min-width: 36px;
  }}
  /* "Log out" (a link-like button in the top bar): taller, still a link. */
  #log-out {{
    box-shadow: none;
    vertical-align: middle;
  }}
}}
"""
