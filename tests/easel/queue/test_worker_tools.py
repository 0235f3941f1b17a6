"""The worker and the image tools: describe jobs go only to backends with an interrogator, their result is text,
an upscale keeps the original's infotext, a zoom is sent as an inpainting of the padded canvas."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from easel.jobs import Job, new_id
from easel.request import DrawRequest
from tests.easel.queue.test_queue import Harness, make, wait_up
from tests.fakes.webui_fake import FakeWebui
from tests.helpers import QUEUE, make_config


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def picture(size: tuple[int, int] = (64, 48), infotext: str = "") -> bytes:
    meta = PngInfo()
    if infotext:
        meta.add_text("parameters", infotext)
    out = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(out, format="PNG", pnginfo=meta)
    return out.getvalue()


async def submit(h: Harness, request: DrawRequest, user: int = 1) -> Job:
    job = Job(id=new_id(), request=request, user_id=user, channel_id=5, guild_id=1)
    await h.queue.submit(job)
    return job


async def test_describe_goes_to_the_backend_that_can(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    async with FakeWebui(flavor="sdnext") as sdnext, FakeWebui() as a1111:
        cfg = make_config([sdnext.url, a1111.url], tmp_path / "q.db", preset=QUEUE)
        h = await make(cfg, session)
        try:
            await wait_up(h)
            jobs = [await submit(h, DrawRequest(prompt="", describe="clip", init_image=picture())) for _ in range(3)]
            await h.rec.wait(lambda: len(h.rec.of("deliver")) == 3)
            assert sdnext.requests and not [r for r in sdnext.requests if r[1] == "/sdapi/v1/interrogate"]
            assert len(a1111.interrogations) == 3
            texts = h.rec.delivered[jobs[0].id]
            assert [(im.index, im.data, im.infotext) for im in texts] == [(0, b"", "a red picture of 64 by 48 pixels")]
        finally:
            await h.queue.stop()
            await h.store.close()


async def test_describe_keeps_the_pictures_own_parameters_and_upscale_carries_them(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with FakeWebui() as webui:
        h = await make(make_config([webui.url], tmp_path / "q.db", preset=QUEUE), session)
        try:
            described = await submit(
                h, DrawRequest(prompt="", describe="deepdanbooru", init_image=picture(infotext="a fox"))
            )
            up = await submit(
                h,
                DrawRequest(
                    prompt="",
                    upscale=True,
                    upscaler="Lanczos",
                    upscale_factor=2.0,
                    init_image=picture(infotext="a fox"),
                ),
            )
            await h.rec.wait(lambda: len(h.rec.of("deliver")) == 2)
            assert [im.infotext for im in h.rec.delivered[described.id]][1] == "a fox"
            (image,) = h.rec.delivered[up.id]
            assert image.infotext == "a fox"
            with Image.open(io.BytesIO(image.data)) as im:
                assert im.size == (128, 96)
        finally:
            await h.queue.stop()
            await h.store.close()


async def test_a_zoom_is_an_inpainting_of_the_canvas(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    async with FakeWebui() as webui:
        h = await make(make_config([webui.url], tmp_path / "q.db", preset=QUEUE), session)
        try:
            req = DrawRequest(
                prompt="a bay", steps=4, img2img=True, outpaint="zoom:2", width=128, height=96, init_image=picture()
            )
            job = await submit(h, req)
            await h.rec.wait(lambda: len(h.rec.of("deliver")) == 1)
            payload = webui.generations[-1]
            assert payload["mask"] and payload["inpainting_fill"] == 1 and payload["inpaint_full_res"] is False
            assert webui.inpaint_sizes == [((128, 96), (128, 96))]
            (image,) = h.rec.delivered[job.id]
            with Image.open(io.BytesIO(image.data)) as im:
                middle = im.convert("RGB").crop((32, 24, 96, 72))
            assert middle.getcolors() == [(64 * 48, (200, 10, 10))]
            assert (await h.store.load_init_image(job.id)) == req.init_image  # only the picture is stored
        finally:
            await h.queue.stop()
            await h.store.close()


async def test_a_zoom_of_an_unreadable_picture_fails_with_a_reason(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with FakeWebui() as webui:
        h = await make(make_config([webui.url], tmp_path / "q.db", preset=QUEUE), session)
        try:
            req = DrawRequest(prompt="a bay", img2img=True, outpaint="pan:up", width=64, height=96, init_image=b"junk")
            job = await submit(h, req)
            await h.rec.wait(lambda: bool(h.rec.of("failed")))
            assert h.rec.of("failed") == [(job.id, "The picture to extend is damaged.")]
            assert webui.generations == []
            await submit(h, DrawRequest(prompt="next", steps=2))  # the worker goes on
            await h.rec.wait(lambda: bool(h.rec.of("deliver")))
        finally:
            await h.queue.stop()
            await h.store.close()
