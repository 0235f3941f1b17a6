"""WebuiClient as a BackendClient (easel.backends.base): detect, generate, progress, cancel, upscale, per flavour,
against the loopback FakeWebui."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from easel.backends.base import BackendClient, BackendKind, Capability, JobProgress
from easel.backends.webui import Flavor, WebuiClient, WebuiRequestError, WebuiServerError, WrongModel
from easel.request import DrawRequest
from tests.fakes.webui_fake import FakeWebui

TIMEOUT = 5.0  # bound for every wait in this file


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def make_client(fake: FakeWebui, session: aiohttp.ClientSession, **kwargs: Any) -> WebuiClient:
    return WebuiClient(
        fake.url, session, name="gpu", connect_timeout=2.0, short_timeout=5.0, read_timeout=10.0, **kwargs
    )


async def until(predicate: Any) -> None:
    """Poll the client (what is under test asks the webui over HTTP; there is no event to wait for)."""
    async with asyncio.timeout(TIMEOUT):
        while not await predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def test_the_webui_client_is_a_backend_client() -> None:
    client = WebuiClient("http://127.0.0.1:1", None)  # type: ignore[arg-type]
    assert isinstance(client, BackendClient)
    assert client.kind is BackendKind.WEBUI


@pytest.mark.parametrize(
    ("flavor", "internal_progress", "has", "lacks"),
    [
        ("a1111", True, {Capability.TASK_PROGRESS, Capability.INTERROGATE, Capability.UPSCALE}, set()),
        ("a1111", False, {Capability.INTERROGATE}, {Capability.TASK_PROGRESS}),  # --nowebui: no /internal/progress
        ("forge", True, {Capability.TASK_PROGRESS, Capability.INTERROGATE}, set()),
        ("sdnext", True, {Capability.UPSCALE, Capability.LORAS}, {Capability.TASK_PROGRESS, Capability.INTERROGATE}),
    ],
)
async def test_detect_names_the_flavour_and_its_capabilities(
    session: aiohttp.ClientSession, flavor: str, internal_progress: bool, has: set[Capability], lacks: set[Capability]
) -> None:
    async with FakeWebui(flavor=flavor, internal_progress=internal_progress) as fake:
        client = make_client(fake, session)
        desc = await client.detect()
    assert desc.kind is BackendKind.WEBUI
    assert desc.flavor == Flavor(flavor)
    assert has <= desc.capabilities
    assert not lacks & desc.capabilities
    assert desc.lacks == frozenset(Capability) - desc.capabilities
    assert client.flavor == Flavor(flavor)
    if flavor == "sdnext":
        assert desc.version  # from /sdapi/v1/version


async def test_generate_sends_the_flavours_payload_with_the_task_id(session: aiohttp.ClientSession) -> None:
    request = DrawRequest(prompt="a fox", scheduler="Karras", seed=7, steps=4)
    async with FakeWebui() as fake:
        client = make_client(fake, session)
        await client.detect()
        result = await client.generate(request, task_id="easel-a-1", model_title="sdxl_base")
        sent = fake.generations[-1]
    assert len(result.images) == 1 and result.seed == 7
    assert sent["force_task_id"] == "easel-a-1"
    assert sent["scheduler"] == "Karras"
    assert sent["override_settings"]["sd_model_checkpoint"] == "sdxl_base"


async def test_generate_on_sdnext_sends_no_task_id(session: aiohttp.ClientSession) -> None:
    async with FakeWebui(flavor="sdnext") as fake:
        client = make_client(fake, session)
        await client.detect()
        await client.generate(DrawRequest(prompt="a fox", steps=4), task_id="easel-a-1", model_title=None)
        sent = fake.generations[-1]
    assert "force_task_id" not in sent


async def test_generate_img2img_and_upscale(session: aiohttp.ClientSession) -> None:
    async with FakeWebui() as fake:
        client = make_client(fake, session)
        first = await client.generate(DrawRequest(prompt="p", steps=2), task_id="t1", model_title=None)
        again = DrawRequest(prompt="p", steps=2, img2img=True, strength=0.4, init_image=first.images[0])
        second = await client.generate(again, task_id="t2", model_title=None)
        assert fake.requests[-1][1].endswith("/sdapi/v1/img2img")
        assert second.images
        bigger = await client.upscale(first.images[0], upscaler="R-ESRGAN 4x+", scale=2)
    assert bigger[:8] == b"\x89PNG\r\n\x1a\n"


async def test_generate_refused_is_a_request_error(session: aiohttp.ClientSession) -> None:
    async with FakeWebui() as fake:
        client = make_client(fake, session)
        fake.fail_next("txt2img", 422)
        with pytest.raises(WebuiRequestError):
            await client.generate(DrawRequest(prompt="p"), task_id="t", model_title=None)


async def test_progress_follows_one_task_queued_then_active_then_done(session: aiohttp.ClientSession) -> None:
    async with FakeWebui(hold=True) as fake:
        client = make_client(fake, session)
        await client.detect()
        assert await client.progress("never-sent") == JobProgress(known=False)
        a = asyncio.create_task(client.generate(DrawRequest(prompt="a"), task_id="ta", model_title=None))
        await fake.wait_generation_started()
        b = asyncio.create_task(client.generate(DrawRequest(prompt="b"), task_id="tb", model_title=None))

        async def b_queued() -> bool:
            p = await client.progress("tb")
            return p is not None and p.queued

        await until(b_queued)
        pa = await client.progress("ta")
        assert pa is not None and pa.known and pa.active and not pa.queued
        fake.release()
        async with asyncio.timeout(TIMEOUT):
            await a
        fake.release()
        async with asyncio.timeout(TIMEOUT):
            await b
        done = await client.progress("ta")
        assert done is not None and done.completed and not done.active


async def test_progress_without_task_route_is_none_unless_exclusive(session: aiohttp.ClientSession) -> None:
    async with FakeWebui(flavor="sdnext", hold=True) as fake:
        shared = make_client(fake, session)
        mine = make_client(fake, session, exclusive=True)
        for c in (shared, mine):
            await c.detect()
        job = asyncio.create_task(mine.generate(DrawRequest(prompt="a"), task_id="t", model_title=None))
        await fake.wait_generation_started()
        assert await shared.progress("t") is None  # the global progress may be someone else's
        p = await mine.progress("t")  # Easel has it to itself: the global progress is its job's
        assert p is not None and p.active
        fake.release()
        async with asyncio.timeout(TIMEOUT):
            await job


async def test_cancel_stops_only_the_active_task_when_it_is_ours(session: aiohttp.ClientSession) -> None:
    async with FakeWebui(hold=True) as fake:
        client = make_client(fake, session)
        await client.detect()
        a = asyncio.create_task(client.generate(DrawRequest(prompt="a"), task_id="ta", model_title=None))
        await fake.wait_generation_started()
        b = asyncio.create_task(client.generate(DrawRequest(prompt="b"), task_id="tb", model_title=None))

        async def b_queued() -> bool:
            p = await client.progress("tb")
            return p is not None and p.queued

        await until(b_queued)
        assert not await client.cancel("tb")  # waiting in the webui's line: /interrupt would stop "ta"
        assert not await client.cancel("unknown")
        assert fake.interrupts == 0
        assert await client.cancel("ta")
        assert fake.interrupts == 1
        fake.release(2)
        async with asyncio.timeout(TIMEOUT):
            await asyncio.gather(a, b)


@pytest.mark.parametrize(("exclusive", "stopped"), [(False, False), (True, True)])
async def test_cancel_without_task_progress_only_on_an_exclusive_webui(
    session: aiohttp.ClientSession, exclusive: bool, stopped: bool
) -> None:
    async with FakeWebui(internal_progress=False, hold=True) as fake:
        client = make_client(fake, session, exclusive=exclusive)
        await client.detect()
        job = asyncio.create_task(client.generate(DrawRequest(prompt="a"), task_id="t", model_title=None))
        await fake.wait_generation_started()
        assert await client.cancel("t") is stopped
        assert fake.interrupts == (1 if stopped else 0)
        fake.release()
        async with asyncio.timeout(TIMEOUT):
            await job


async def test_lists_for_the_catalog_and_close(session: aiohttp.ClientSession) -> None:
    async with FakeWebui() as fake:
        client = make_client(fake, session)
        assert [m.model_name for m in await client.sd_models()] == ["v1-5-pruned-emaonly", "sdxl_base"]
        assert await client.samplers()
        assert await client.loaded_model()
        await client.close()
        assert await client.samplers()  # close releases nothing the caller still uses (the session is theirs)


@pytest.mark.parametrize("flavor", ["a1111", "forge", "sdnext"])
async def test_a_picture_from_another_model_than_asked_is_refused(session: aiohttp.ClientSession, flavor: str) -> None:
    async with FakeWebui(flavor=flavor, models=("v1-5-pruned-emaonly", "sdxl_base")) as fake:
        client = make_client(fake, session)
        await client.detect()
        titles = {m.model_name: m.title for m in await client.sd_models()}
        ok = await client.generate(DrawRequest(prompt="p", steps=2), task_id="t1", model_title=titles["sdxl_base"])
        assert ok.images  # the asked model was used
        fake.models = [m for m in fake.models if m.model_name != "sdxl_base"]  # removed since the catalog was read
        fake.loaded_model = "v1-5-pruned-emaonly"
        with pytest.raises(WrongModel) as ei:
            await client.generate(DrawRequest(prompt="p", steps=2), task_id="t2", model_title=titles["sdxl_base"])
    assert not ei.value.retryable
    assert ei.value.asked == titles["sdxl_base"]
    assert "v1-5-pruned-emaonly" in ei.value.used or ei.value.used == fake.models[0].hash


# ---- what the flavours do differently (the fake's forge and sdnext modes) ------------------------------------


@pytest.mark.parametrize(("flavor", "words"), [("a1111", "value is not a valid integer"), ("forge", "Input should be")])
async def test_validation_errors_in_each_pydantic_shape_are_readable(
    session: aiohttp.ClientSession, flavor: str, words: str
) -> None:
    async with FakeWebui(flavor=flavor) as fake:
        client = make_client(fake, session)
        with pytest.raises(WebuiRequestError) as ei:
            await client.txt2img({"prompt": "p", "steps": "many"})
        body = fake.responses[-1]
    assert ei.value.status == 422
    assert ei.value.message.startswith("steps: ") and words in ei.value.message
    assert body == ("/sdapi/v1/txt2img", 422)


async def test_forge_takes_distilled_cfg_strictly_and_has_no_sd_vae(session: aiohttp.ClientSession) -> None:
    async with FakeWebui(flavor="forge") as fake:
        client = make_client(fake, session)
        result = await client.txt2img({"prompt": "p", "steps": 2, "distilled_cfg_scale": 3.0})
        assert "Distilled CFG Scale: 3.0" in result.infotexts[0]
        with pytest.raises(WebuiRequestError, match="distilled_cfg_scale"):
            await client.txt2img({"prompt": "p", "distilled_cfg_scale": "3"})
        with pytest.raises(WebuiServerError, match="sd_vae"):  # VAEs are forge_additional_modules there
            await client.txt2img({"prompt": "p", "override_settings": {"sd_vae": "None"}})
        await client.txt2img({"prompt": "p", "steps": 2, "override_settings": {"forge_additional_modules": []}})


async def test_sdnext_ignores_scheduler_and_task_id(session: aiohttp.ClientSession) -> None:
    async with FakeWebui(flavor="sdnext", internal_progress=True) as fake:
        client = make_client(fake, session)
        result = await client.txt2img({"prompt": "p", "steps": 2, "scheduler": "Karras"}, task_id="mine")
        assert "Karras" not in result.infotexts[0]
        assert fake.arrivals[-1][0] != "mine"  # the webui named the task itself
        assert await client.task_progress("mine") is None  # and there is no per-task progress to ask
