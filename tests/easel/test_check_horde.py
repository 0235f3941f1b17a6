"""``bot.py check`` with a ``kind = "horde"`` backend: reachable, the key (a 401 is named as a config error), kudos,
models with workers; the key never printed."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from easel.check import run_check
from easel.config import Config
from tests.fakes.horde_fake import FakeHorde
from tests.helpers import make_config

TIMEOUT = 30.0


async def check(config: Config) -> tuple[int, str]:
    out = io.StringIO()
    async with asyncio.timeout(TIMEOUT):
        rc = await run_check(config, out=out, discord_base="http://127.0.0.1:9")
    return rc, out.getvalue()


def horde_config(tmp_path: Path, fake: FakeHorde, key: str, **horde: object) -> Config:
    table = {"kind": "horde", "url": fake.url, "api_key": key, **horde}
    return make_config([table], tmp_path / "e.db", horde={"mode": "only"})


async def test_a_good_key_shows_its_kudos_and_the_models(tmp_path: Path) -> None:
    async with FakeHorde(keys={"secret-key-1": 4321.0}) as fake:
        _, report = await check(horde_config(tmp_path, fake, "secret-key-1", models=["stable_diffusion", "Nope"]))
        assert "AI Horde" in report and "4,321 kudos" in report
        assert "no Horde worker serves Nope" in report
        assert "secret-key-1" not in report
        assert fake.validation_errors == []


async def test_a_wrong_key_is_named(tmp_path: Path) -> None:
    async with FakeHorde(keys={"right": 1.0}) as fake:
        rc, report = await check(horde_config(tmp_path, fake, "wrong-key"))
        assert rc == 1
        fail = [line for line in report.splitlines() if line.startswith("FAIL")]
        assert any("401 InvalidAPIKey" in line and "api_key" in line for line in fail)
        assert "wrong-key" not in report


async def test_the_anonymous_key_is_said_to_be_lowest_priority(tmp_path: Path) -> None:
    async with FakeHorde() as fake:
        _, report = await check(horde_config(tmp_path, fake, ""))
        assert "anonymous key (lowest priority)" in report
