"""The worker through the backend protocol: routing by capability, and a backend that is not a webui at all."""

from __future__ import annotations

import asyncio
import io
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from PIL import Image

from easel.backends.base import (
    BackendClient,
    BackendDescription,
    BackendKind,
    Capability,
    CatalogExtras,
    GenerationResult,
    JobProgress,
    ModelInfo,
    PromptStyle,
    RemoteIdCallback,
)
from easel.backends.webui import WebuiClient
from easel.catalog import Catalog
from easel.config import Config
from easel.jobs import Job, JobState, new_id
from easel.queue import Backend, JobQueue
from easel.request import DrawRequest
from easel.store import Store
from tests.easel.queue.test_queue import Recorder
from tests.fakes.webui_fake import FakeWebui
from tests.helpers import QUEUE, make_config

TIMEOUT = 10.0


class WithoutLoras(WebuiClient):
    """A webui whose LoRA support is off (it says so in ``detect``)."""

    async def detect(self) -> BackendDescription:
        desc = await super().detect()
        return replace(desc, capabilities=desc.capabilities - {Capability.LORAS})


class MemoryBackend:
    """A BackendClient that is no webui: draws a flat PNG per request, can be held, follows no task."""

    name = "memory"

    def __init__(self) -> None:
        self.generated: list[str] = []
        self.cancelled: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.started = asyncio.Event()

    @property
    def kind(self) -> BackendKind:
        return BackendKind.HORDE  # any kind but a webui

    async def detect(self) -> BackendDescription:
        caps = frozenset({Capability.TXT2IMG, Capability.MODELS})
        return BackendDescription(kind=self.kind, flavor=None, version="1", capabilities=caps)

    async def generate(
        self,
        request: DrawRequest,
        *,
        task_id: str,
        model_title: str | None,
        remote_id: str | None = None,
        on_remote_id: RemoteIdCallback | None = None,
    ) -> GenerationResult:
        self.started.set()
        await self.gate.wait()
        buf = io.BytesIO()
        Image.new("RGB", (request.width, request.height), (10, 20, 30)).save(buf, "PNG")
        self.generated.append(task_id)
        return GenerationResult((buf.getvalue(),), ("",), (request.seed,), (-1,), {}, {}, 0.0)

    async def upscale(self, image: bytes, *, upscaler: str, scale: float) -> bytes:
        raise AssertionError("not asked for")

    async def progress(self, task_id: str) -> JobProgress | None:
        return None

    async def cancel(self, task_id: str) -> bool:
        self.cancelled.append(task_id)
        self.gate.set()
        return True

    async def close(self) -> None:
        pass

    async def sd_models(self) -> list[ModelInfo]:
        return [ModelInfo("remote-model", "remote-model", None, "")]

    async def samplers(self) -> list[str]:
        return ["Euler a"]

    async def schedulers(self) -> list[str]:
        return []

    async def prompt_styles(self) -> list[PromptStyle]:
        return []

    async def upscalers(self) -> list[str]:
        return []

    async def loaded_model(self) -> str | None:
        return None

    async def extras(self) -> CatalogExtras:
        return CatalogExtras()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def start(cfg: Config, clients: list[BackendClient]) -> tuple[JobQueue, Store, Recorder]:
    store = await Store.open(cfg.storage.path)
    rec = Recorder()
    queue = JobQueue(cfg, store, Catalog(), [Backend(b, c) for b, c in zip(cfg.backends, clients, strict=True)], rec)
    await queue.start()
    async with asyncio.timeout(TIMEOUT):
        while not all(b.up for b in queue.backends.values()):
            await queue.wait_changed()
    return queue, store, rec


def job(prompt: str, **req: object) -> Job:
    return Job(
        id=new_id(),
        request=DrawRequest(prompt=prompt, steps=4, **req),  # type: ignore[arg-type]
        user_id=1,
        channel_id=5,
        guild_id=1,
    )


async def test_a_job_goes_only_to_a_backend_that_can_run_it(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    async with FakeWebui() as plain, FakeWebui(models=("only-here", "v1-5-pruned-emaonly")) as loras:
        cfg = make_config([plain.url, loras.url], tmp_path / "q.db", preset=QUEUE)
        clients: list[BackendClient] = [
            WithoutLoras(plain.url, session, name="gpu0"),
            WebuiClient(loras.url, session, name="gpu1"),
        ]
        queue, store, rec = await start(cfg, clients)
        loras.hold()
        busy = job("a cat", model="only-here")  # only gpu1 has that model
        await queue.submit(busy)
        await loras.wait_generation_started()
        tagged = job("a cat <lora:detail:0.8>")
        await queue.submit(tagged)
        plain_job = job("a dog")  # gpu0 is free and can run this one: it does, past the waiting LoRA job
        await queue.submit(plain_job)
        await rec.wait(lambda: plain_job.id in rec.delivered)
        assert tagged.id not in rec.delivered and queue.position(tagged.id) == 1  # waits for gpu1
        loras.release(2)
        await rec.wait(lambda: {busy.id, tagged.id} <= set(rec.delivered))
        assert "<lora:detail:0.8>" in loras.generations[-1]["prompt"]
        assert [g["prompt"] for g in plain.generations] == ["a dog"]
        await queue.stop()
        await store.close()


async def test_the_worker_runs_and_cancels_on_any_backend_client(tmp_path: Path) -> None:
    cfg = make_config(1, tmp_path / "q.db", preset=QUEUE)
    client = MemoryBackend()
    queue, store, rec = await start(cfg, [client])
    assert queue.backends["gpu0"].flavor is None
    done = job("a boat")
    await queue.submit(done)
    await rec.wait(lambda: done.id in rec.delivered)
    assert rec.delivered[done.id][0].data[:8] == b"\x89PNG\r\n\x1a\n"

    client.gate.clear()
    client.started.clear()
    stopped = job("another boat")
    await queue.submit(stopped)
    async with asyncio.timeout(TIMEOUT):
        await client.started.wait()
    result = await queue.cancel(stopped.id, 1)
    assert result.ok
    await rec.wait(lambda: (stopped.id, None) in rec.of("cancelled"))
    assert client.cancelled == [f"easel-{stopped.id}-1"]  # the client was asked to stop exactly that task
    assert stopped.id not in rec.delivered
    stored = await store.get_job(stopped.id)
    assert stored is not None and stored.state is JobState.CANCELLED
    await queue.stop()
    await store.close()


# ---- prefetch: the next job waits at the webui while one runs ------------------------------------------------


def prefetch_config(url: str, db: Path, *, exclusive: bool = True, prefetch: bool = True) -> Config:
    return make_config(
        [{"name": "gpu0", "url": url, "exclusive": exclusive}],
        db,
        preset=QUEUE,
        queue={"prefetch": prefetch},
    )


async def start_on(cfg: Config, session: aiohttp.ClientSession) -> tuple[JobQueue, Store, Recorder]:
    b = cfg.backends[0]
    return await start(cfg, [WebuiClient(b.url, session, name=b.name, exclusive=b.exclusive)])


async def test_prefetch_sends_the_next_job_while_one_runs(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    async with FakeWebui(hold=True) as fake:
        queue, store, rec = await start_on(prefetch_config(fake.url, tmp_path / "q.db"), session)
        jobs = [job(f"picture {i}") for i in range(3)]
        for j in jobs:
            await queue.submit(j)
        await fake.wait_for(lambda: len(fake.arrivals) == 2)  # the second waits at the webui behind the first
        assert [done for _, done in fake.arrivals] == [0, 0]
        assert queue.backends["gpu0"].prefetched is not None
        await rec.wait(lambda: bool(rec.of("started")))
        assert [j for j, _ in rec.of("started")] == [jobs[0].id]  # the second waits: not "drawing" yet
        stored = [await store.get_job(j.id) for j in jobs]
        assert [s.state for s in stored if s is not None] == [JobState.RUNNING, JobState.RUNNING, JobState.QUEUED]
        fake.release(1)
        await fake.wait_for(lambda: len(fake.arrivals) == 3)
        assert [done for _, done in fake.arrivals] == [0, 0, 1]  # the third was sent while the second ran
        assert fake.completed_count == 1
        await rec.wait(lambda: len(rec.of("started")) == 2)  # told once the first had ended
        assert [j for j, _ in rec.of("started")] == [jobs[0].id, jobs[1].id]
        fake.release(2)
        await rec.wait(lambda: len(rec.delivered) == 3)
        assert [g["prompt"] for g in fake.generations] == [j.request.prompt for j in jobs]  # in the fair order
        await queue.stop()
        await store.close()


@pytest.mark.parametrize(("exclusive", "prefetch"), [(False, True), (True, False)])
async def test_no_prefetch_on_a_shared_webui_or_when_off(
    tmp_path: Path, session: aiohttp.ClientSession, exclusive: bool, prefetch: bool
) -> None:
    async with FakeWebui(hold=True) as fake:
        cfg = prefetch_config(fake.url, tmp_path / "q.db", exclusive=exclusive, prefetch=prefetch)
        queue, store, rec = await start_on(cfg, session)
        for i in range(2):
            await queue.submit(job(f"picture {i}"))
        await fake.wait_generation_started()
        fake.release(2)
        await rec.wait(lambda: len(rec.delivered) == 2)
        assert [done for _, done in fake.arrivals] == [0, 1]  # the second was sent once the first had ended
        await queue.stop()
        await store.close()


async def test_no_prefetch_on_sdnext(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    async with FakeWebui(flavor="sdnext", hold=True) as fake:
        queue, store, rec = await start_on(prefetch_config(fake.url, tmp_path / "q.db"), session)
        assert not queue.backends["gpu0"].follows_tasks
        for i in range(2):
            await queue.submit(job(f"picture {i}"))
        await fake.wait_generation_started()
        fake.release(2)
        await rec.wait(lambda: len(rec.delivered) == 2)
        assert [done for _, done in fake.arrivals] == [0, 1]
        await queue.stop()
        await store.close()


async def test_a_prefetched_job_cancelled_is_stopped_as_it_starts(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with FakeWebui(hold=True) as fake:
        queue, store, rec = await start_on(prefetch_config(fake.url, tmp_path / "q.db"), session)
        first, second = job("first"), job("second")
        await queue.submit(first)
        await queue.submit(second)
        await fake.wait_for(lambda: len(fake.arrivals) == 2)
        result = await queue.cancel(second.id, 1)
        assert result.ok
        assert fake.interrupts == 0  # waiting at the webui: an interrupt now would stop the first job
        fake.release(1)  # the first ends; the second starts and is interrupted at once (no second release)
        await rec.wait(lambda: first.id in rec.delivered and (second.id, None) in rec.of("cancelled"))
        assert fake.interrupts == 1
        assert second.id not in rec.delivered
        stored = await store.get_job(second.id)
        assert stored is not None and stored.state is JobState.CANCELLED
        await queue.stop()
        await store.close()


async def test_prefetched_jobs_survive_a_crash_and_run_once(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    async with FakeWebui(hold=True) as fake:
        queue, store, rec = await start_on(prefetch_config(fake.url, tmp_path / "q.db"), session)
        jobs = [job("first"), job("second")]
        for j in jobs:
            await queue.submit(j)
        await fake.wait_for(lambda: len(fake.arrivals) == 2)
        # What a kill -9 leaves on disk now: both jobs "running" (a snapshot of the database).
        crashed = tmp_path / "crashed.db"
        with sqlite3.connect(tmp_path / "q.db") as src, sqlite3.connect(crashed) as dst:
            src.backup(dst)
        fake.release(2)
        await rec.wait(lambda: len(rec.delivered) == 2)
        await queue.stop()
        await store.close()
    async with FakeWebui() as fresh:
        cfg = prefetch_config(fresh.url, crashed)
        queue, store, rec = await start_on(cfg, session)
        await rec.wait(lambda: len(rec.delivered) == 2)
        await queue.wait_idle()
        assert sorted(rec.delivered) == sorted(j.id for j in jobs)
        assert len(rec.of("deliver")) == 2  # each once
        assert fresh.completed_count == 2
        for j in jobs:
            stored = await store.get_job(j.id)
            assert stored is not None and stored.attempts == 2  # the crashed attempt counts
        await queue.stop()
        await store.close()


async def test_two_idle_backends_woken_together_run_a_job_once(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    async with FakeWebui() as a, FakeWebui() as b:
        cfg = make_config([a.url, b.url], tmp_path / "q.db", preset=QUEUE)
        queue, store, rec = await start(
            cfg, [WebuiClient(x.url, session, name=n) for x, n in ((a, "gpu0"), (b, "gpu1"))]
        )
        for i in range(5):
            await queue.submit(job(f"one at a time {i}"))
            await rec.wait(lambda n=i: len(rec.delivered) == n + 1)
        await queue.wait_idle()
        assert a.completed_count + b.completed_count == 5  # each job generated once, though both workers woke
        await queue.stop()
        await store.close()


async def test_a_job_no_backend_can_run_fails_with_the_reason(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    async with FakeWebui() as fake:
        cfg = make_config([fake.url], tmp_path / "q.db", preset=QUEUE)
        queue, store, rec = await start(cfg, [WithoutLoras(fake.url, session, name="gpu0")])
        tagged = job("a cat <lora:detail:0.8>")
        await queue.submit(tagged)
        await rec.wait(lambda: any(job_id == tagged.id for job_id, _ in rec.of("failed")))
        [(_, message)] = rec.of("failed")
        assert "No image server of this bot can do this (LoRAs)" in message  # named for people, not "loras"
        assert fake.generations == []
        stored = await store.get_job(tagged.id)
        assert stored is not None and stored.state is JobState.FAILED
        plain = job("a cat")  # the backend goes on with what it can do
        await queue.submit(plain)
        await rec.wait(lambda: plain.id in rec.delivered)
        await queue.stop()
        await store.close()
