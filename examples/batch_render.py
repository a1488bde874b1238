"""Render every shot of a script and assemble the film, against a local studio or a server.

    .venv/bin/python examples/batch_render.py --data-dir my-studio --script examples/script.txt
    .venv/bin/python examples/batch_render.py --url https://studio.example.com --token sfs_…

Breaks the script down into a new project, draws the previews, renders a take per shot and
assembles the film, printing each step and, last, the film's path (with `--url`, the file
is downloaded into the SDK's cache and its path printed). Exit status 1 if a render fails.
Without `--data-dir` or `--url`, the studio is `$STUDIO_DATA_DIR` (default `./data`).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

# Run from anywhere without installing: make the repository root importable.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studio import Studio  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--data-dir", type=Path, help="a local studio's folder")
    where.add_argument("--url", help="a studio server, e.g. https://studio.example.com")
    parser.add_argument("--token", help="API token for --url (default: $STUDIO_TOKEN)")
    parser.add_argument(
        "--script", type=Path, default=ROOT / "examples" / "script.txt", help="the script file"
    )
    parser.add_argument("--name", help="project name (default: the script's file name)")
    parser.add_argument("--height", type=int, default=240, help="frame height in px (240)")
    parser.add_argument("--fps", type=int, default=12, help="frames per second (12)")
    parser.add_argument("--pipeline", help="preview and clip pipeline (default: the studio's)")
    parser.add_argument("--title", help="a title card before the first shot")
    parser.add_argument("--crossfade", type=float, default=0.0, help="seconds between shots")
    parser.add_argument("--out", type=Path, help="also copy the film here")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.token and not args.url:
        parser.error("--token goes with --url")
    return args


def open_studio(args: argparse.Namespace) -> Any:
    if args.url:
        return Studio.connect(args.url, args.token)
    return Studio.local(args.data_dir)


def check(jobs: list[Any], what: str) -> None:
    failed = [job for job in jobs if job.status != "succeeded"]
    cached = sum(1 for job in jobs if job.cache_hit)
    print(f"{what}: {len(jobs) - len(failed)}/{len(jobs)} succeeded ({cached} from the cache)")
    for job in failed:
        print(f"  job #{job.id} (shot #{job.shot_id}) {job.status}: {job.error}", file=sys.stderr)
    if failed:
        raise SystemExit(1)


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    script = args.script.read_text(encoding="utf-8")
    progress = not args.quiet
    with open_studio(args) as studio:
        fields: dict[str, Any] = {"height": args.height, "fps": args.fps}
        if args.pipeline:
            fields.update(preview_pipeline=args.pipeline, clip_pipeline=args.pipeline)
        project = studio.create_project(args.name or args.script.stem, **fields)
        shots = studio.breakdown(project.id, script)
        print(f"project #{project.id} {project.name!r}: {len(shots)} shots")
        for number, shot in enumerate(shots, 1):
            details = f"{shot.shot_size}, {shot.camera_move}, {shot.duration:g}s"
            print(f"  {number}. [{details}] {shot.prompt}")

        check(studio.preview(project.id, wait=True, progress=progress), "previews")
        check(studio.render(project.id, wait=True, progress=progress), "takes")
        film = studio.assemble(
            project.id, title=args.title, crossfade=args.crossfade, wait=True, progress=progress
        )
        check([film], "film")
        path = Path(studio.artifact_path(film.artifact_id))
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, args.out)
            path = args.out.resolve()
    print(f"film: {path}")
    return path


if __name__ == "__main__":
    main()
