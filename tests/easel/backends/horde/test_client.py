"""HordeClient against the loopback FakeHorde (tests/fakes/horde_fake.py): every request Easel sends is checked
against the Horde's OpenAPI document by the fake, and every answer the fake gives against its response schema."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import aiohttp
import pytest
from PIL import Image

from easel.backends.base import BackendClient, BackendKind
from easel.backends.horde.client import (
    ANONYMOUS_KEY,
    HordeAuthError,
    HordeCensored,
    HordeClient,
    HordeFaulted,
    HordeImpossible,
    HordeKudosUpfront,
    HordeMaintenance,
    HordeRateLimited,
    client_agent,
)
from easel.backends.horde.translate import HordeOptions
from easel.backends.webui import WebuiResponseTooLarge
from easel.config import NsfwCheck
from easel.infotext import parse_infotext, png_parameters
from easel.request import DrawRequest
from tests.fakes.horde_fake import FakeHorde

TIMEOUT = 10.0


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def make(fake: FakeHorde, session: aiohttp.ClientSession, **kw: object) -> HordeClient:
    kw.setdefault("api_key", "test-key")
    kw.setdefault("poll_interval", 0.02)
    kw.setdefault("poll_max_interval", 0.1)
    return HordeClient(fake.url, session, agent=client_agent("0.1.0", "https://example.org/easel"), **kw)  # type: ignore[arg-type]


def clean(fake: FakeHorde) -> None:
    assert fake.validation_errors == []
    assert fake.response_errors == []


async def test_a_request_is_drawn_and_delivered_as_png_with_infotext(session: aiohttp.ClientSession) -> None:
    async with FakeHorde(workers=[("w1", 0.05)]) as fake:
        client = make(fake, session)
        assert isinstance(client, BackendClient) and client.kind is BackendKind.HORDE
        req = DrawRequest(prompt="a red fox", negative_prompt="blurry", seed=77, steps=12, width=512, height=512)
        ids: list[str] = []

        async def remember(rid: str) -> None:
            ids.append(rid)

        async with asyncio.timeout(TIMEOUT):
            result = await client.generate(req, task_id="t1", model_title=None, on_remote_id=remember)
        assert len(ids) == 1 and ids[0] in fake.requests
        assert len(result.images) == 1 and result.seeds == (77,)
        png = result.images[0]
        assert png.startswith(b"\x89PNG") and png_parameters(png) == result.infotexts[0]
        info = parse_infotext(result.infotexts[0])
        assert info.prompt == "a red fox" and info.negative_prompt == "blurry" and info.seed == 77
        assert info.get("Horde worker") == "w1" and info.size == (512, 512)
        sent = fake.submits[0]
        assert sent["prompt"] == "a red fox ### blurry" and sent["params"]["seed"] == "77"
        assert (sent["nsfw"], sent["censor_nsfw"]) == (True, False)  # the image check is off for this request
        headers = next(h for m, p, h, _ in fake.calls if p.endswith("/generate/async"))
        assert headers["apikey"] == "test-key" and headers["Client-Agent"] == "easel:0.1.0:https_//example.org/easel"
        statuses = [p for m, p, _, _ in fake.calls if "/generate/status/" in p and m == "GET"]
        assert len(statuses) == 1  # once, when done
        assert len(fake.downloads) == 1
        clean(fake)


async def test_queue_position_and_wait_time_are_the_progress(session: aiohttp.ClientSession) -> None:
    async with FakeHorde(workers=[("slow", 0.4)]) as fake:
        client = make(fake, session)
        first = asyncio.create_task(client.generate(DrawRequest(prompt="one"), task_id="a", model_title=None))
        await fake.wait_for(lambda: any(r.processing for r in fake.requests.values()))
        second = asyncio.create_task(client.generate(DrawRequest(prompt="two"), task_id="b", model_title=None))
        async with asyncio.timeout(TIMEOUT):
            while True:
                p = await client.progress("b")
                if p is not None and p.queue_position is not None and p.eta is not None:
                    break
                await asyncio.sleep(0.02)
        assert p.known and p.queued and p.queue_position == 0 and p.eta >= 1
        async with asyncio.timeout(TIMEOUT):
            await asyncio.gather(first, second)
        assert (await client.progress("b")) == type(p)(known=False)  # finished: no longer followed
        clean(fake)


async def test_resume_polls_the_stored_request_instead_of_sending_another(session: aiohttp.ClientSession) -> None:
    async with FakeHorde(workers=[("w1", 0.2)]) as fake:
        first = make(fake, session)
        ids: list[str] = []

        async def remember(rid: str) -> None:
            ids.append(rid)

        task = asyncio.create_task(
            first.generate(DrawRequest(prompt="fox"), task_id="t", model_title=None, on_remote_id=remember)
        )
        await fake.wait_for(lambda: bool(ids))
        task.cancel()  # a restart: the request lives on at the Horde
        with pytest.raises(asyncio.CancelledError):
            await task
        again = make(fake, session)
        async with asyncio.timeout(TIMEOUT):
            result = await again.generate(DrawRequest(prompt="fox"), task_id="t", model_title=None, remote_id=ids[0])
        assert len(fake.submits) == 1 and len(result.images) == 1


async def test_a_forgotten_request_is_sent_again(session: aiohttp.ClientSession) -> None:
    async with FakeHorde(workers=[("w1", 0.01)]) as fake:
        client = make(fake, session)
        new: list[str] = []

        async def remember(rid: str) -> None:
            new.append(rid)

        async with asyncio.timeout(TIMEOUT):
            result = await client.generate(
                DrawRequest(prompt="fox"), task_id="t", model_title=None, remote_id="gone-id", on_remote_id=remember
            )
        assert len(fake.submits) == 1 and len(new) == 1 and new[0] != "gone-id" and result.images


async def test_expiry_while_polling_is_a_retryable_error(session: aiohttp.ClientSession) -> None:
    async with FakeHorde(workers=[]) as fake:
        client = make(fake, session, impossible_grace=60.0)
        task = asyncio.create_task(client.generate(DrawRequest(prompt="fox"), task_id="t", model_title=None))
        await fake.wait_for(lambda: len(fake.requests) == 1)
        fake.forget(next(iter(fake.requests)))
        async with asyncio.timeout(TIMEOUT):
            with pytest.raises(Exception) as info:
                await task
        assert getattr(info.value, "retryable", False) is True


async def test_cancel_deletes_the_request_and_nothing_comes_back(session: aiohttp.ClientSession) -> None:
    async with FakeHorde(workers=[("w1", 5.0)]) as fake:
        client = make(fake, session, poll_max_interval=30.0)
        task = asyncio.create_task(client.generate(DrawRequest(prompt="fox", count=2), task_id="t", model_title=None))
        await fake.wait_for(lambda: client.remote_id("t") is not None)
        rid = client.remote_id("t")
        assert await client.cancel("t") is True
        async with asyncio.timeout(TIMEOUT):  # at once, not at the next poll
            result = await task
        assert result.images == () and fake.requests[rid].cancelled
        assert ("DELETE", f"/api/v2/generate/status/{rid}") in [(m, p) for m, p, _, _ in fake.calls]
        assert fake.downloads == []
        assert await client.cancel("unknown") is False


async def test_429_is_waited_out_honouring_retry_after(session: aiohttp.ClientSession) -> None:
    async with FakeHorde(workers=[("w1", 0.01)]) as fake:
        fake.fail_next("async", 429, "TooManyPrompts", headers={"Retry-After": "0.2"}, times=2)
        client = make(fake, session)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        async with asyncio.timeout(TIMEOUT):
            result = await client.generate(DrawRequest(prompt="fox"), task_id="t", model_title=None)
        assert result.images and len(fake.submits) == 1
        assert loop.time() - t0 >= 0.4  # two waits of Retry-After each
        posts = [p for m, p, _, _ in fake.calls if p.endswith("/generate/async")]
        assert len(posts) == 3


async def test_429_for_longer_than_allowed_gives_up_retryable(session: aiohttp.ClientSession) -> None:
    async with FakeHorde(concurrency=1, workers=[("w1", 0.01)]) as fake:
        client = make(fake, session, rate_limit_wait=0.0)
        with pytest.raises(HordeRateLimited) as info:
            await client.generate(DrawRequest(prompt="fox", count=2), task_id="t", model_title=None)
        assert info.value.retryable and info.value.retry_after == 1.0


@pytest.mark.parametrize("size", [(1024, 1536), (1536, 1536)])
async def test_kudos_upfront_says_what_to_change(session: aiohttp.ClientSession, size: tuple[int, int]) -> None:
    async with FakeHorde() as fake:
        client = make(fake, session, api_key=ANONYMOUS_KEY)
        req = DrawRequest(prompt="fox", width=size[0], height=size[1])
        with pytest.raises(HordeKudosUpfront) as info:
            await client.generate(req, task_id="t", model_title=None)
        assert not info.value.retryable and "smaller size or fewer steps" in info.value.message
        clean(fake)


async def test_allow_downgrade_shrinks_instead(session: aiohttp.ClientSession) -> None:
    async with FakeHorde(workers=[("w1", 0.01)]) as fake:
        client = make(fake, session, api_key=ANONYMOUS_KEY, options=HordeOptions(allow_downgrade=True))
        async with asyncio.timeout(TIMEOUT):
            result = await client.generate(
                DrawRequest(prompt="fox", width=1536, height=1536), task_id="t", model_title=None
            )
        size = parse_infotext(result.infotexts[0]).size
        assert size is not None and size[0] * size[1] <= 1024 * 1024  # the infotext tells the real size
        with Image.open(io.BytesIO(result.images[0])) as img:
            assert img.size == size


async def test_no_worker_for_the_model_is_said_so(session: aiohttp.ClientSession) -> None:
    async with FakeHorde(workers=[("w1", 0.01)], worker_models={"w1": ["stable_diffusion"]}) as fake:
        client = make(fake, session, impossible_grace=0.1)
        with pytest.raises(HordeImpossible) as info:
            async with asyncio.timeout(TIMEOUT):
                await client.generate(DrawRequest(prompt="fox"), task_id="t", model_title="AlbedoBase XL (SDXL)")
        assert "AlbedoBase XL (SDXL)" in info.value.message
        assert next(iter(fake.requests.values())).cancelled  # not left to expire at the Horde


async def test_faulted(session: aiohttp.ClientSession) -> None:
    async with FakeHorde(workers=[("w1", 0.01)]) as fake:
        fake.fault_next()
        client = make(fake, session)
        with pytest.raises(HordeFaulted):
            async with asyncio.timeout(TIMEOUT):
                await client.generate(DrawRequest(prompt="fox"), task_id="t", model_title=None)


async def test_maintenance_mode_is_the_backend_down(session: aiohttp.ClientSession) -> None:
    async with FakeHorde() as fake:
        fake.maintenance = True
        client = make(fake, session)
        with pytest.raises(HordeMaintenance) as info:
            await client.generate(DrawRequest(prompt="fox"), task_id="t", model_title=None)
        assert info.value.retryable


async def test_a_bad_key_is_a_config_error(session: aiohttp.ClientSession) -> None:
    async with FakeHorde() as fake:
        client = make(fake, session, api_key="wrong")
        with pytest.raises(HordeAuthError):
            await client.generate(DrawRequest(prompt="fox"), task_id="t", model_title=None)
        with pytest.raises(HordeAuthError):
            await client.find_user()


async def test_a_censored_placeholder_is_never_returned(session: aiohttp.ClientSession) -> None:
    async with FakeHorde(workers=[("w1", 0.01)], censor_words=["nsfwword"]) as fake:
        client = make(fake, session)
        req = DrawRequest(prompt="a nsfwword fox", nsfw_check=NsfwCheck.SPOILER)
        with pytest.raises(HordeCensored) as info:
            async with asyncio.timeout(TIMEOUT):
                await client.generate(req, task_id="t", model_title=None)
        assert "censored" in info.value.message and not info.value.retryable
        assert fake.downloads == []  # the placeholder is not even fetched
        # in an age-restricted channel (image check off) the request asks for uncensored NSFW workers
        async with asyncio.timeout(TIMEOUT):
            result = await client.generate(
                DrawRequest(prompt="a nsfwword fox", nsfw_check=NsfwCheck.OFF), task_id="u", model_title=None
            )
        assert result.images and fake.submits[-1]["nsfw"] is True and fake.submits[-1]["censor_nsfw"] is False


async def test_an_oversized_download_is_cut_off(session: aiohttp.ClientSession) -> None:
    async with FakeHorde(workers=[("w1", 0.01)]) as fake:
        fake.oversize_next(2 * 2**20)
        client = make(fake, session, max_download=2**20)
        with pytest.raises(WebuiResponseTooLarge):
            async with asyncio.timeout(TIMEOUT):
                await client.generate(DrawRequest(prompt="fox"), task_id="t", model_title=None)


async def test_status_is_limited_per_request(session: aiohttp.ClientSession) -> None:
    async with FakeHorde(workers=[("w1", 0.01)], status_per_minute=1) as fake:
        fake.fail_next("status", 429, "BadRequest", headers={"Retry-After": "0.1"})
        client = make(fake, session)
        async with asyncio.timeout(TIMEOUT):
            result = await client.generate(DrawRequest(prompt="fox"), task_id="t", model_title=None)
        assert result.images  # one 429 on status is waited out once


async def test_models_user_and_catalog_lists(session: aiohttp.ClientSession) -> None:
    async with FakeHorde(keys={"test-key": 1234.5}, worker_models={"fake-worker-1": ["stable_diffusion"]}) as fake:
        client = make(fake, session, options=HordeOptions(models=("stable_diffusion", "AlbedoBase XL (SDXL)")))
        models = {m.name: m.count for m in await client.horde_models()}
        assert models == {"stable_diffusion": 1, "AlbedoBase XL (SDXL)": 0}
        assert [m.model_name for m in await client.sd_models()] == ["stable_diffusion"]  # has a worker
        user = await client.find_user()
        assert user.kudos == 1234.5
        desc = await client.detect()
        assert desc.kind is BackendKind.HORDE and desc.flavor is None
        assert "Euler a" in await client.samplers() and await client.schedulers() == ["Automatic", "Karras"]
        clean(fake)


async def test_several_images_come_back_in_order_with_their_seeds(session: aiohttp.ClientSession) -> None:
    async with FakeHorde(workers=[("w1", 0.01), ("w2", 0.01)]) as fake:
        client = make(fake, session)
        async with asyncio.timeout(TIMEOUT):
            result = await client.generate(DrawRequest(prompt="fox", count=3, seed=10), task_id="t", model_title=None)
        assert len(result.images) == 3 and sorted(result.seeds) == [10, 11, 12]
        assert [parse_infotext(t).seed for t in result.infotexts] == list(result.seeds)
        assert len(fake.downloads) == 3 and len(fake.submits) == 1
