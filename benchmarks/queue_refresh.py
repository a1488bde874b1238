"""What one refresh of the queue tab costs with a small queue and with a large one.

Two local studios (SQLite, no worker, so every job stays queued) side by side in one run: a
project with `--small` shots rendered (30 queued jobs) and one with `--large` (3,000). Each
refresh is the queue tab's own (`studio.ui.queue_table.queue_state`: the newest 50 jobs, their
shot numbers and queue positions, the Lab's running jobs, the paused flag); the two studios
alternate so a change in machine load hits both alike. For reference, the same run times
what the table read before it asked for its rows only: every shot of the project and the
position of every queued job.

Prints, for each size, the median and min–max milliseconds and the SQL statements per
refresh, then `refresh_ratio=<large median / small median>` last (1.0: a refresh costs the
same however long the queue is).

    python benchmarks/queue_refresh.py [--small 30] [--large 3000] [--runs 30]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Run as a script from anywhere: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event
from sqlmodel import Session

from studio import Studio
from studio.core.models import Shot
from studio.ui.queue_table import queue_state


def filled(folder: Path, shots: int) -> tuple[Studio, int]:
    """A studio without a worker whose one project has `shots` shots, each with a queued
    clip job. The shots go in as rows (adding them one by one is not what is measured);
    the jobs are submitted as a creator would: one `render` call."""
    studio = Studio.local(folder, start_worker=False, max_queued_per_user=max(200, shots))
    project = studio.create_project("bench", script="")
    with Session(studio.engine) as session:
        session.add_all(
            Shot(project_id=project.id, position=n, prompt=f"shot {n}") for n in range(shots)
        )
        session.commit()
    studio.render(project.id)
    return studio, project.id


def statements(studio: Studio, action: Callable[[], Any]) -> int:
    """SQL statements `action` sends to the studio's database."""
    count = 0

    def counted(*_args: Any) -> None:
        nonlocal count
        count += 1

    event.listen(studio.engine, "before_cursor_execute", counted)
    try:
        action()
    finally:
        event.remove(studio.engine, "before_cursor_execute", counted)
    return count


def read_everything(studio: Studio, project_id: int) -> None:
    """What a refresh read before: every shot of the project, every queued job's position."""
    studio.shots(project_id)
    studio.queue_positions()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=30, help="queued jobs in the small queue")
    parser.add_argument("--large", type=int, default=3000, help="queued jobs in the large one")
    parser.add_argument("--runs", type=int, default=30, help="refreshes of each, alternating")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        sizes = {"small": args.small, "large": args.large}
        made = {}
        for label, size in sizes.items():
            started = time.perf_counter()
            made[label] = filled(Path(tmp) / label, size)
            print(f"{label}: {size} shots and queued jobs in {time.perf_counter() - started:.1f} s")
        cases: dict[str, Callable[[Studio, int], Any]] = {
            "refresh": lambda studio, pid: queue_state(studio, pid),
            "every row (before)": read_everything,
        }
        times: dict[tuple[str, str], list[float]] = {}
        for case, action in cases.items():
            for studio, pid in made.values():
                action(studio, pid)  # warm: first queries, caches
            for _ in range(args.runs):
                for label, (studio, pid) in made.items():
                    started = time.perf_counter()
                    action(studio, pid)
                    times.setdefault((case, label), []).append(time.perf_counter() - started)
        print(f"\n{'':20} {'queued':>7} {'median ms':>10} {'min–max ms':>15} {'statements':>10}")
        for (case, label), seconds in times.items():
            studio, pid = made[label]
            count = statements(studio, functools.partial(cases[case], studio, pid))
            ms = sorted(s * 1000 for s in seconds)
            spread = f"{ms[0]:.1f}–{ms[-1]:.1f}"
            print(
                f"{case:20} {sizes[label]:>7} {statistics.median(ms):>10.1f} {spread:>15}"
                f" {count:>10}"
            )
        for studio, _pid in made.values():
            studio.close()
    before = statistics.median(times[("every row (before)", "large")]) / statistics.median(
        times[("every row (before)", "small")]
    )
    print(f"\nreading every row: large / small = {before:.2f}")
    ratio = statistics.median(times[("refresh", "large")]) / statistics.median(
        times[("refresh", "small")]
    )
    print(f"refresh_ratio={ratio:.2f}")


if __name__ == "__main__":
    main()
