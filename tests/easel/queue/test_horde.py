"""Routing to the AI Horde (easel/queue/horde.py): which backend may take which job, per mode. No backend is
called: the queue is not started, the backends' state and lists are set by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from easel.backends.base import ModelInfo
from easel.backends.horde.client import HordeClient
from easel.backends.webui import WebuiClient
from easel.catalog import BackendCatalog, Catalog
from easel.config import HordeMode
from easel.jobs import Job, new_id
from easel.queue import Backend, JobQueue
from easel.request import DrawRequest
from easel.store import Store
from tests.helpers import QUEUE, make_config


class Quiet:
    async def queued(self, *a: Any) -> None: ...
    async def started(self, *a: Any) -> None: ...
    async def progress(self, *a: Any) -> None: ...
    async def deliver(self, *a: Any, **k: Any) -> int | None:
        return None

    async def failed(self, *a: Any) -> None: ...
    async def cancelled(self, *a: Any) -> None: ...


def models(*names: str) -> BackendCatalog:
    return BackendCatalog(models=tuple(ModelInfo(n, n, None, "") for n in names), samplers=("Euler a",))


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def make(tmp_path: Path, session: aiohttp.ClientSession, mode: str, **horde: Any) -> JobQueue:
    cfg = make_config(
        [{"name": "gpu0", "url": "http://127.0.0.1:9"}, {"kind": "horde", "url": "http://127.0.0.1:9/api"}],
        tmp_path / "e.db",
        preset=QUEUE,
        horde={"mode": mode, **horde},
    )
    store = await Store.open(cfg.storage.path)
    catalog = Catalog()
    catalog.set("gpu0", models("local-model"))
    catalog.set("horde", models("horde-model", "local-model"))
    local = Backend(cfg.backends[0], WebuiClient("http://127.0.0.1:9", session), up=True, seconds_per_unit=1.0)
    horde_backend = Backend(cfg.backends[1], HordeClient("http://127.0.0.1:9/api", session), up=True)
    return JobQueue(cfg, store, catalog, [local, horde_backend], Quiet())  # type: ignore[arg-type]


async def submit(q: JobQueue, user: int, guild: int = 1, **req: Any) -> Job:
    job = Job(id=new_id(), request=DrawRequest(prompt="fox", **req), user_id=user, channel_id=5, guild_id=guild)
    await q.submit(job)
    return job


async def test_off_never_the_horde(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    q = await make(tmp_path, session, "off")
    jobs = [await submit(q, u) for u in range(5)]
    assert not any(q._eligible(j, q.backends["horde"]) for j in jobs)
    assert q.pick(q.backends["horde"]) is None and q.pick(q.backends["gpu0"]) is jobs[0]
    await q.store.close()


async def test_overflow_takes_only_the_jobs_that_would_wait_too_long(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    q = await make(tmp_path, session, "overflow", overflow_after=10.0)
    # each job is 25 steps x 0.26 MP = 6.6 units = 6.6 s on gpu0: the 3rd starts 13 s from now
    jobs = [await submit(q, u) for u in range(4)]
    horde = q.backends["horde"]
    assert [q._eligible(j, horde) for j in jobs] == [False, False, True, True]
    assert q.pick(horde) is jobs[2]  # not the first in line: that one is gpu0's
    assert q.pick(q.backends["gpu0"]) is jobs[0]  # local stays preferred
    await q.store.close()


async def test_overflow_when_every_local_backend_is_down_or_lacks_the_model(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    q = await make(tmp_path, session, "overflow", overflow_after=1000.0)
    only_there = await submit(q, 1, model="horde-model")
    assert q._eligible(only_there, q.backends["horde"]) and not q._eligible(only_there, q.backends["gpu0"])
    plain = await submit(q, 2)
    assert not q._eligible(plain, q.backends["horde"])
    q.backends["gpu0"].up = False
    q._invalidate()
    assert q._eligible(plain, q.backends["horde"])
    await q.store.close()


async def test_only_sends_what_the_horde_can_draw(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    q = await make(tmp_path, session, "only")
    draw = await submit(q, 1)
    styled = await submit(q, 2, style="Cinematic")
    upscale = await submit(q, 3, upscale=True, upscaler="R-ESRGAN 4x+")
    horde, local = q.backends["horde"], q.backends["gpu0"]
    assert q._eligible(draw, horde) and not q._eligible(draw, local)
    for job in (styled, upscale):
        assert not q._eligible(job, horde) and q._eligible(job, local)  # stays local
    await q.store.close()


async def test_a_request_living_on_the_horde_is_never_drawn_locally(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    q = await make(tmp_path, session, "off")
    job = await submit(q, 1)
    job.remote_id = "uuid-from-before-a-restart"
    assert q._eligible(job, q.backends["horde"]) and not q._eligible(job, q.backends["gpu0"])
    await q.store.close()


async def test_each_server_chooses(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    q = await make(tmp_path, session, "off")

    async def policy(guild_id: int | None) -> HordeMode:
        return HordeMode.ONLY if guild_id == 7 else HordeMode.OFF

    q.horde_policy = policy
    theirs, ours = await submit(q, 1, guild=7), await submit(q, 2, guild=8)
    assert q._eligible(theirs, q.backends["horde"]) and not q._eligible(ours, q.backends["horde"])
    await q.store.close()
