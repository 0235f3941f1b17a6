"""``bot.py check``: the image check's line (loads and runs, or how to install it)."""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path

import pytest

from easel.check import run_check
from easel.safety.images import INSTALL_COMMAND
from tests.helpers import make_config

TIMEOUT = 60.0


async def report(tmp_path: Path, **safety: str) -> tuple[int, list[str]]:
    # A backend nobody listens on: its FAIL lines don't matter here, only the image check's line.
    cfg = make_config(["http://127.0.0.1:9"], tmp_path / "easel.db", safety=safety)
    out = io.StringIO()
    async with asyncio.timeout(TIMEOUT):
        rc = await run_check(cfg, out=out)
    return rc, [line for line in out.getvalue().splitlines() if "image check" in line]


async def test_the_model_loads_and_runs_timed(tmp_path: Path) -> None:
    _, found = await report(tmp_path, nsfw_check="blur")
    assert len(found) == 1 and found[0].startswith("OK    image check (NudeNet, nsfw_check = 'blur'): model loaded in")
    assert " ms" in found[0]


async def test_missing_nudenet_is_a_warning_with_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "nudenet", None)  # how the import system marks a module as absent
    _, found = await report(tmp_path, nsfw_check="refuse")
    assert len(found) == 1 and found[0].startswith("WARN  image check: [safety] nsfw_check = 'refuse' but")
    assert INSTALL_COMMAND in found[0] and "only the channel policy" in found[0]
    _, found = await report(tmp_path)  # the check is off: a plain OK that says so
    assert len(found) == 1 and found[0].startswith("OK    image check: off;") and INSTALL_COMMAND in found[0]
