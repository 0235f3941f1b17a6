"""Run the benches: ``.venv/bin/python -m bench.run [--quick] [--only NAME[,NAME...]] [--profile]``.

Each bench runs in its own child process (clean memory figures, no leftovers between benches) and prints a
table with the target beside each figure; a summary of every PASS/MISS follows at the end. ``--profile``
runs the children under cProfile (event-loop thread) and prints where the time went. ``--json FILE`` also
writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib
import io
import json
import logging
import os
import pstats
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

CHILD_TIMEOUT = 600  # seconds for one bench

BENCHES = (
    "first_answer",
    "post_latency",
    "throughput",
    "overhead",
    "prefetch",
    "responsiveness",
    "memory",
    "swaps",
    "fuzz",
    "nsfw",
)


def _child(name: str, quick: bool, out: Path, profile: bool) -> int:
    try:
        _run_child(name, quick, out, profile)
    except BaseException:
        traceback.print_exc()
        code = 1
    else:
        code = 0
    # Leave at once: a bot that failed to start leaves threads behind (aiosqlite's) that would hang the exit.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _run_child(name: str, quick: bool, out: Path, profile: bool) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("discord.client").setLevel(logging.ERROR)  # "PyNaCl is not installed" etc.
    module = importlib.import_module(f"bench.{name}")
    started = time.perf_counter()
    if profile:
        prof = cProfile.Profile()
        report = prof.runcall(asyncio.run, module.run(quick))
    else:
        report = asyncio.run(module.run(quick))
    report.notes.append(f"bench took {time.perf_counter() - started:.1f} s")
    print(report.render(), flush=True)
    if profile:
        buf = io.StringIO()
        stats = pstats.Stats(prof, stream=buf)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(40)
        print(buf.getvalue())
    out.write_text(json.dumps(report.as_dict()))


def _summary(results: list[dict[str, Any]]) -> str:
    rows = [("bench", "figure", "measured", "target", "")]
    for res in results:
        for row in res["rows"]:
            if row["ok"] is not None:
                rows.append((res["name"], row["figure"], row["value"], row["target"], row["verdict"]))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["== summary"]
    for i, r in enumerate(rows):
        lines.append("  " + "  ".join(c.ljust(widths[k]) for k, c in enumerate(r)).rstrip())
        if i == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description="Easel benches (print figures)")
    parser.add_argument("--quick", action="store_true", help="smaller samples (whole run in about 2 minutes)")
    parser.add_argument("--only", default="", help=f"comma-separated bench names: {', '.join(BENCHES)}")
    parser.add_argument("--profile", action="store_true", help="cProfile the event-loop thread of each bench")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        return _child(args.child, args.quick, args.out, args.profile)

    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        parser.error(f"unknown bench {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    results: list[dict[str, Any]] = []
    failed: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="easel-bench-") as tmp:
        for name in names:
            out = Path(tmp) / f"{name}.json"
            cmd = [sys.executable, "-m", "bench.run", "--child", name, "--out", str(out)]
            cmd += ["--quick"] if args.quick else []
            cmd += ["--profile"] if args.profile else []
            try:
                code = subprocess.run(cmd, check=False, timeout=CHILD_TIMEOUT).returncode
            except subprocess.TimeoutExpired:
                code = -1
            if code != 0 or not out.exists():
                failed.append(name)
                print(f"== {name}: FAILED ({'timed out' if code == -1 else f'exit {code}'})", flush=True)
                continue
            results.append(json.loads(out.read_text()))
            print(flush=True)
    print(_summary(results))
    print(f"  ({len(results)} benches in {time.perf_counter() - started:.0f} s{', quick' if args.quick else ''})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if failed:
        print(f"crashed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
