"""The notebook example as a script: script → storyboard → takes → film, headless.

    .venv/bin/python examples/notebook_quickstart.py

Works in a temporary data directory (SQLite, local storage, inline render worker), renders
with the weightless `draft` pipeline and prints the film's path and duration.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

# Run from anywhere without installing: make the repository root importable.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studio import Studio  # noqa: E402
from studio.film.video import probe  # noqa: E402

SCRIPT = ROOT / "examples" / "script.txt"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="studio-quickstart-") as tmp:
        # Copy the film out of the temporary data dir before it is deleted.
        out = Path(tempfile.gettempdir()) / "studio-quickstart.mp4"
        with Studio.local(tmp) as studio:
            project = studio.create_project("Quickstart", height=240, fps=12)
            shots = studio.breakdown(project.id, SCRIPT.read_text(encoding="utf-8"))
            for number, shot in enumerate(shots, 1):
                print(
                    f"{number}. [{shot.shot_size}, {shot.camera_move}, {shot.duration:g}s] "
                    f"{shot.prompt}"
                )

            previews = studio.preview(project.id, wait=True)
            takes = studio.render(project.id, wait=True)
            film = studio.assemble(project.id, title="Quickstart", wait=True)
            for job in [*previews, *takes, film]:
                if job.status != "succeeded":
                    raise SystemExit(f"job #{job.id} {job.status}: {job.error}")

            path = studio.artifact_path(film.artifact_id)
            out.write_bytes(path.read_bytes())
        info = probe(out)
        print(f"film: {out}")
        print(f"duration: {info.duration:.2f} s ({info.frames} frames at {info.fps} fps)")


if __name__ == "__main__":
    main()
