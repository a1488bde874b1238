"""`python -m studio` (also `studio`): serve, demo, db upgrade. Errors print one line, exit 2."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipelines.catalogue import UnknownPipelineError
from studio.config import ConfigError, load_settings
from studio.errors import StudioError


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (StudioError, ConfigError, ValueError, OSError, UnknownPipelineError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="studio", description="AI Film Studio")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the studio UI and its health checks")
    serve.add_argument("--host", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 7860, or $PORT)")
    _data_dir(serve)
    serve.set_defaults(func=_serve)

    demo = sub.add_parser("demo", help="run script → storyboard → renders → film headless")
    demo.add_argument("--script", required=True, type=Path, help="screenplay or prose, UTF-8")
    demo.add_argument("--out", required=True, type=Path, help="where to write the film (.mp4)")
    demo.add_argument("--title", help="optional title card text")
    demo.add_argument("--crossfade", type=float, default=0.0, help="seconds between shots")
    demo.add_argument("--audio", type=Path, help="optional soundtrack file")
    demo.add_argument("--pipelines", type=Path, help="pipeline catalogue file (default: built-in)")
    demo.add_argument("--image-pipeline", help="catalogue name for previews (default: draft)")
    demo.add_argument("--video-pipeline", help="catalogue name for clips (default: draft)")
    _data_dir(demo, "default: a temporary directory")
    demo.set_defaults(func=_demo)

    pipes = sub.add_parser("pipelines", help="the pipeline catalogue")
    pipes_sub = pipes.add_subparsers(dest="pipelines_command", required=True)
    tiny = pipes_sub.add_parser(
        "make-tiny", help="write tiny random-weight diffusers pipelines and a catalogue for them"
    )
    tiny.add_argument("directory", type=Path)
    tiny.set_defaults(func=_make_tiny)
    listing = pipes_sub.add_parser("list", help="list the catalogue's pipelines")
    listing.add_argument("--pipelines", type=Path, help="catalogue file (default: built-in)")
    listing.set_defaults(func=_list_pipelines)

    worker = sub.add_parser("worker", help="render jobs from the Redis queue (STUDIO_REDIS_URL)")
    worker.add_argument("--name", help="worker name shown on the Workers page")
    worker.add_argument(
        "--preload",
        action="append",
        default=[],
        metavar="PIPELINE",
        help="load this catalogue pipeline before taking jobs (repeatable)",
    )
    worker.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PIPELINE",
        help="take only jobs of this pipeline (repeatable); default: all",
    )
    worker.add_argument("--burst", action="store_true", help="stop when the queues are empty")
    worker.add_argument("--redis-url", help="default: $STUDIO_REDIS_URL")
    _data_dir(worker)
    worker.set_defaults(func=_worker)

    check = sub.add_parser(
        "check", help="print the effective configuration and verify every dependency"
    )
    _data_dir(check)
    check.set_defaults(func=_check_setup)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="apply migrations up to the latest")
    _data_dir(up)
    up.set_defaults(func=_db_upgrade)
    return parser


def _data_dir(
    parser: argparse.ArgumentParser, note: str = "default $STUDIO_DATA_DIR or ./data"
) -> None:
    parser.add_argument("--data-dir", type=Path, help=f"studio data directory ({note})")


def _settings(args: argparse.Namespace, **extra: Any) -> Any:
    overrides = {k: v for k, v in extra.items() if v is not None}
    if getattr(args, "data_dir", None) is not None:
        overrides["data_dir"] = args.data_dir
    return load_settings(**overrides)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app import create_app

    settings = _settings(args, host=args.host, port=args.port)
    from studio import logs

    logs.configure(settings.resolved_log_format)
    print(
        f"AI Film Studio on http://{settings.host}:{settings.port}  (data: {settings.data_dir})",
        file=sys.stderr,
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        # In JSON mode uvicorn's own lines go through our handler too.
        log_config=None
        if settings.resolved_log_format == "json"
        else uvicorn.config.LOGGING_CONFIG,
    )
    return 0


def _worker(args: argparse.Namespace) -> int:
    import logging

    from studio import logs
    from studio.worker import run_worker

    settings = _settings(args, redis_url=args.redis_url)
    logs.configure(settings.resolved_log_format, logging.INFO)
    run_worker(
        settings, name=args.name, preload=args.preload, burst=args.burst, only=args.only or None
    )
    return 0


def _make_tiny(args: argparse.Namespace) -> int:
    from pipelines.tiny import make_tiny

    catalogue = make_tiny(args.directory)
    print(f"tiny pipelines written; catalogue: {catalogue}")
    print(
        f"try: python -m studio demo --script examples/script.txt --out tiny.mp4 "
        f"--pipelines {catalogue} --image-pipeline tiny-sd --video-pipeline tiny-svd"
    )
    return 0


def _list_pipelines(args: argparse.Namespace) -> int:
    from pipelines.catalogue import Catalogue

    for entry in Catalogue.load(args.pipelines):
        model = entry.model_id or "(no weights)"
        print(f"{entry.name:20} {', '.join(entry.tasks):40} {model}")
    return 0


def _check_setup(args: argparse.Namespace) -> int:
    from studio.checks import effective_config, verify

    settings = _settings(args)
    print("Effective configuration (secrets masked):")
    for key, value in effective_config(settings).items():
        print(f"  {key:22} {value}")
    print("Dependencies:")
    results = verify(settings)
    for name, outcome in results.items():
        print(f"  {name:22} {outcome}")
    failed = [name for name, outcome in results.items() if outcome != "ok"]
    if failed:
        print(f"error: not reachable: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    from studio.db import upgrade

    settings = _settings(args)
    upgrade(settings.resolved_database_url)
    from studio.checks import mask_url

    print(f"database at head: {mask_url(settings.resolved_database_url)}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from studio.api import Studio
    from studio.breakdown import break_down, decode_script
    from studio.models import ident
    from studio.validation import film_options

    # Everything the user typed is checked before any rendering starts.
    script = args.script.read_bytes()
    if args.out.suffix.lower() != ".mp4":
        raise StudioError(f"--out must name an .mp4 file, not {args.out.name!r}")
    break_down(decode_script(script))
    film_options(_settings(args), args.crossfade, args.title, 2.0, args.audio)
    pipelines = {
        k: v
        for k, v in (
            ("preview_pipeline", args.image_pipeline),
            ("clip_pipeline", args.video_pipeline),
        )
        if v
    }
    with tempfile.TemporaryDirectory(prefix="studio-demo-") as tmp:
        data_dir = args.data_dir or Path(tmp)
        with Studio.local(data_dir, pipelines_file=args.pipelines) as studio:
            project = studio.create_project(args.script.stem[:200] or "Demo", **pipelines)
            pid = ident(project)
            shots = studio.breakdown(pid, script)
            print(f"{len(shots)} shots", file=sys.stderr)
            _check(studio.preview(pid, wait=True), "preview")
            _check(studio.render(pid, wait=True), "render")
            film = studio.assemble(
                pid,
                title=args.title,
                crossfade=args.crossfade,
                audio=args.audio,
                wait=True,
            )
            _check([film], "film")
            args.out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(studio.artifact_path(film.artifact_id), args.out)  # type: ignore[arg-type]
            artifact = studio.artifact(film.artifact_id)  # type: ignore[arg-type]
    seconds = artifact.provenance.get("assembly", {}).get("seconds")
    print(
        json.dumps(
            {
                "shots": len(shots),
                "seconds": seconds,
                "film": str(args.out.resolve()),
                "project": pid,
                "sha256": artifact.sha256,
            }
        )
    )
    return 0


def _check(jobs: Sequence[Any], what: str) -> None:
    failed = [j for j in jobs if j.status != "succeeded"]
    if failed:
        raise StudioError(
            f"{what} failed for job #{failed[0].id}: {failed[0].error or failed[0].status}"
        )
