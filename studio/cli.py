"""`python -m studio` (also `studio`): serve, demo, db upgrade, users, credits.

Errors print one line, exit 2."""

from __future__ import annotations

import argparse
import getpass
import json
import math
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from pipelines.catalogue import UnknownPipelineError
from studio.core.config import ConfigError, load_settings
from studio.core.errors import StudioError


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
    demo.add_argument(
        "--no-voices", action="store_true", help="a silent film: no spoken lines, no subtitles"
    )
    demo.add_argument(
        "--burn-subtitles", action="store_true", help="draw the subtitles into the picture too"
    )
    demo.add_argument("--speaker-names", action="store_true", help='subtitles say "Anna: …"')
    demo.add_argument(
        "--otio", type=Path, help="also write the cut as OpenTimelineIO (takes in media/ beside it)"
    )
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

    _users_parser(sub)
    _credits_parser(sub)
    return parser


def _users_parser(sub: Any) -> None:
    users = sub.add_parser("users", help="user accounts (admin)")
    users_sub = users.add_subparsers(dest="users_command", required=True)

    add = users_sub.add_parser("add", help="create an account (it gets the sign-up credits)")
    add.add_argument("name", type=_user_name, metavar="NAME")
    add.add_argument("--admin", action="store_true", help="an admin, not a creator")
    _password_stdin(add)
    _data_dir(add)
    add.set_defaults(func=_users_add)

    for command, disabled, text in (
        ("disable", True, "disable an account: its sessions end, its API tokens are revoked"),
        ("enable", False, "enable a disabled account again"),
    ):
        toggle = users_sub.add_parser(command, help=text)
        toggle.add_argument("name", type=_user_name, metavar="NAME")
        _data_dir(toggle)
        toggle.set_defaults(func=_users_disable, disabled=disabled)

    listing = users_sub.add_parser("list", help="list accounts with role, state and balance")
    _data_dir(listing)
    listing.set_defaults(func=_users_list)

    passwd = users_sub.add_parser("passwd", help="set a new password (open sessions end)")
    passwd.add_argument("name", type=_user_name, metavar="NAME")
    _password_stdin(passwd)
    _data_dir(passwd)
    passwd.set_defaults(func=_users_passwd)

    token = users_sub.add_parser(
        "token", help="create an API token for a user and print it (shown only this once)"
    )
    token.add_argument("name", type=_user_name, metavar="NAME")
    token.add_argument(
        "--name", dest="token_name", required=True, metavar="TOKEN_NAME", help="what it is for"
    )
    _data_dir(token)
    token.set_defaults(func=_users_token)


def _credits_parser(sub: Any) -> None:
    credits = sub.add_parser("credits", help="credit balances and grants (admin)")
    credits_sub = credits.add_subparsers(dest="credits_command", required=True)

    grant = credits_sub.add_parser(
        "grant", help="add credits to a user (negative: take unspent credits back)"
    )
    grant.add_argument("name", type=_user_name, metavar="NAME")
    grant.add_argument("amount", type=_credit_amount, metavar="AMOUNT", help="credits, e.g. 100")
    grant.add_argument("--reason", required=True, help="why (kept in the ledger)")
    _data_dir(grant)
    grant.set_defaults(func=_credits_grant)

    show = credits_sub.add_parser(
        "show", help="a user's balance, held and spent credits and the last 20 ledger entries"
    )
    show.add_argument("name", type=_user_name, metavar="NAME")
    _data_dir(show)
    show.set_defaults(func=_credits_show)


def _user_name(value: str) -> str:
    """User names are stored lower-case (see studio.accounts.check_name)."""
    return value.strip().lower()


def _credit_amount(value: str) -> float:
    try:
        amount = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of credits: {value!r}") from None
    if not math.isfinite(amount):
        raise argparse.ArgumentTypeError(f"not a number of credits: {value!r}")
    return amount


def _password_stdin(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin (default: prompt in a terminal)",
    )


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

    from studio.web.app import create_app

    settings = _settings(args, host=args.host, port=args.port)
    from studio.core import logs

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
        # Behind a load balancer the client address (login throttling, logs) comes from
        # X-Forwarded-For, trusted only from these addresses.
        forwarded_allow_ips=settings.forwarded_allow_ips,
        # Open event streams (/api/v1/…/events) would hold a graceful shutdown forever.
        timeout_graceful_shutdown=5,
        # In JSON mode uvicorn's own lines go through our handler too.
        log_config=None
        if settings.resolved_log_format == "json"
        else uvicorn.config.LOGGING_CONFIG,
    )
    return 0


def _worker(args: argparse.Namespace) -> int:
    import logging

    from studio.core import logs
    from studio.farm.worker import run_worker

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
    from studio.core.db import upgrade

    settings = _settings(args)
    upgrade(settings.resolved_database_url)
    from studio.checks import mask_url

    print(f"database at head: {mask_url(settings.resolved_database_url)}")
    return 0


def _admin_studio(args: argparse.Namespace) -> Any:
    """The studio as its local admin, on the configured database, without a render worker."""
    from studio.api import Studio

    return Studio(_settings(args), start_worker=False)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
        if not password:
            raise StudioError("no password on stdin (--password-stdin reads its first line)")
        return password
    if not sys.stdin.isatty():
        raise StudioError("no password: pass --password-stdin and pipe it in, or run in a terminal")
    password = getpass.getpass("Password: ")
    if not password:
        raise StudioError("the password is empty")
    if getpass.getpass("Repeat password: ") != password:
        raise StudioError("the passwords do not match")
    return password


def _users_add(args: argparse.Namespace) -> int:
    from studio.core.models import Role

    password = _read_password(args)
    role = Role.admin.value if args.admin else Role.creator.value
    with _admin_studio(args) as studio:
        user = studio.create_user(args.name, password, role=role)
        auth_on = studio.settings.resolved_auth
    print(f"created user {user.name} ({user.role})")
    if not auth_on:
        print(
            "note: accounts are off in this studio (dev tier, STUDIO_AUTH): "
            "nobody logs in until they are on",
            file=sys.stderr,
        )
    return 0


def _users_disable(args: argparse.Namespace) -> int:
    with _admin_studio(args) as studio:
        user = studio.disable_user(args.name, disabled=args.disabled)
    if user.disabled:
        print(f"disabled user {user.name} (its sessions ended and its API tokens were revoked)")
    else:
        print(f"enabled user {user.name}")
    return 0


def _users_list(args: argparse.Namespace) -> int:
    with _admin_studio(args) as studio:
        rows = studio.usage()
    _table(
        ["NAME", "ROLE", "DISABLED", "BALANCE"],
        [
            [row["user"], row["role"], "yes" if row["disabled"] else "no", f"{row['balance']:.2f}"]
            for row in rows
        ],
        right={3},
    )
    return 0


def _users_passwd(args: argparse.Namespace) -> int:
    password = _read_password(args)
    with _admin_studio(args) as studio:
        user = studio.reset_password(args.name, password)
    print(f"password changed for {user.name} (its open sessions ended)")
    return 0


def _users_token(args: argparse.Namespace) -> int:
    with _admin_studio(args) as studio:
        token, plain = studio.as_user(args.name).create_token(args.token_name)
    print(f"API token {token.name!r} for {token.owner}: shown only now, store it", file=sys.stderr)
    print(plain)
    return 0


def _credits_grant(args: argparse.Namespace) -> int:
    from credits.ledger import format_credits

    with _admin_studio(args) as studio:
        entry = studio.grant_credits(args.name, args.amount, args.reason)
    verb = "granted" if entry.amount_cents > 0 else "took back"
    print(
        f"{verb} {format_credits(abs(entry.amount_cents))} "
        f"{'to' if entry.amount_cents > 0 else 'from'} {entry.owner}; "
        f"balance: {format_credits(entry.balance_after_cents)}"
    )
    return 0


def _credits_show(args: argparse.Namespace) -> int:
    from studio.core.errors import NotFound

    with _admin_studio(args) as studio:
        row = next((r for r in studio.usage() if r["user"] == args.name), None)
        if row is None:
            raise NotFound(f"No user {args.name!r}")
        entries = studio.ledger(args.name, limit=20)
    print(f"user:    {row['user']} ({row['role']}{', disabled' if row['disabled'] else ''})")
    print(f"balance: {row['balance']:.2f} credits")
    print(f"held:    {row['held']:.2f} credits (by queued and running jobs)")
    print(f"spent:   {row['spent']:.2f} credits")
    if not entries:
        print("no ledger entries")
        return 0
    print(f"last {len(entries)} ledger entries, newest first:")
    _table(
        ["ID", "WHEN (UTC)", "KIND", "AMOUNT", "BALANCE", "JOB", "BY", "REASON"],
        [
            [
                str(e.id),
                e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                e.kind,
                f"{e.amount_cents / 100:+.2f}",
                f"{e.balance_after_cents / 100:.2f}",
                "" if e.job_id is None else f"#{e.job_id}",
                e.actor,
                e.reason,
            ]
            for e in entries
        ],
        right={0, 3, 4},
    )
    return 0


def _table(header: list[str], rows: list[list[str]], right: Collection[int] = ()) -> None:
    """Print aligned columns (`right`: indexes of right-aligned ones, e.g. numbers)."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


def _demo(args: argparse.Namespace) -> int:
    from studio.api import Studio
    from studio.core.validation import film_options
    from studio.core.voices import spoken_line
    from studio.film.breakdown import break_down, decode_script

    # Everything the user typed is checked before any rendering starts.
    script = args.script.read_bytes()
    if args.out.suffix.lower() != ".mp4":
        raise StudioError(f"--out must name an .mp4 file, not {args.out.name!r}")
    if args.otio is not None and args.otio.suffix.lower() != ".otio":
        raise StudioError(f"--otio must name an .otio file, not {args.otio.name!r}")
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
            pid = project.id
            shots = studio.breakdown(pid, script)
            print(f"{len(shots)} shots", file=sys.stderr)
            voiced = not args.no_voices and any(spoken_line(s.dialogue) for s in shots)
            if voiced:  # first: each spoken line sets its shot's duration
                _check(studio.speak(pid, wait=True), "speech")
            _check(studio.preview(pid, wait=True), "preview")
            _check(studio.render(pid, wait=True), "render")
            film = studio.assemble(
                pid,
                title=args.title,
                crossfade=args.crossfade,
                audio=args.audio,
                dialogue=voiced,
                burn_subtitles=args.burn_subtitles,
                speaker_names=args.speaker_names,
                wait=True,
            )
            _check([film], "film")
            args.out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(studio.artifact_path(film.artifact_id), args.out)  # type: ignore[arg-type]
            artifact = studio.artifact(film.artifact_id)  # type: ignore[arg-type]
            subtitles = None
            for role, attached in artifact.provenance.get("attachments", {}).items():
                beside = args.out.with_suffix(f".{role}")  # film.srt, film.vtt
                shutil.copyfile(studio.artifact_path(attached), beside)
                subtitles = str(beside.resolve()) if role == "srt" else subtitles
            if args.otio is not None:
                _write_otio(studio.artifact_path(studio.export_cut(pid, film.id).id), args.otio)
            cast = [
                {"name": m.name, "description": m.description, "shots": len(m.shot_ids)}
                for m in studio.cast(pid)
            ]
    seconds = artifact.provenance.get("assembly", {}).get("seconds")
    print(
        json.dumps(
            {
                "shots": len(shots),
                "seconds": seconds,
                "film": str(args.out.resolve()),
                "project": pid,
                "sha256": artifact.sha256,
                "cast": cast,
                "subtitles": subtitles,
                "lines": len(artifact.provenance.get("params", {}).get("lines", [])),
                "otio": str(args.otio.resolve()) if args.otio is not None else None,
            }
        )
    )
    return 0


def _write_otio(bundle: Path, target: Path) -> None:
    """The exported cut's .otio as `target`, its media in media/ beside it (where the .otio's
    relative references point)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(bundle) as archive:
        for name in archive.namelist():
            if name.startswith("media/"):
                archive.extract(name, target.parent)
            elif name.endswith(".otio"):
                target.write_bytes(archive.read(name))


def _check(jobs: Sequence[Any], what: str) -> None:
    failed = [j for j in jobs if j.status != "succeeded"]
    if failed:
        raise StudioError(
            f"{what} failed for job #{failed[0].id}: {failed[0].error or failed[0].status}"
        )
