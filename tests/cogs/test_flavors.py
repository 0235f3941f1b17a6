"""The main paths against each webui flavour the fake plays (AUTOMATIC1111, Forge, SD.Next): draw, img2img,
upscale, live progress, cancel; and a picture from the wrong model never posted."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from PIL import Image

from easel.backends.base import Capability
from easel.infotext import png_parameters
from tests.cogs.harness import ALICE, CHANNEL, E2E, GUILD, Easel, png, running_easel
from tests.fakes.discord_fake import FakeAttachment, FakeInteraction, FakeMessage
from tests.helpers import make_config

FLAVORS = ["a1111", "forge", "sdnext"]


@asynccontextmanager
async def easel_on(tmp_path: Path, flavor: str, *, exclusive: bool = False) -> AsyncIterator[Easel]:
    async with running_easel(tmp_path, start=False, flavor=flavor) as e:
        backend = {"name": "gpu0", "url": e.webui.url, "exclusive": exclusive}
        await e.start_bot(make_config([backend], tmp_path / "flavor.db", preset=E2E))
        yield e


async def click(e: Easel, message: FakeMessage, custom_id: str) -> FakeInteraction:
    inter = await e.discord.click(message, custom_id, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL)
    await inter.wait_response(5)
    return inter


def button(message: FakeMessage, action: str) -> str:
    return next(c for c in message.all_custom_ids() if c.startswith(f"easel:{action}:"))


def results(e: Easel) -> list[FakeMessage]:
    return [m for m in e.discord.channel_messages(CHANNEL) if m.attachments and f"<@{ALICE}>" in m.content]


async def nth_result(e: Easel, n: int) -> FakeMessage:
    await e.discord.wait_until(lambda: len(results(e)) >= n, timeout=15)
    return results(e)[n - 1]


async def cancel(e: Easel, job: str) -> str:
    inter = await e.discord.invoke("cancel", {"job": job}, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL)
    response = await inter.wait_response(5)
    return response["data"]["content"]


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_draw_img2img_and_upscale(tmp_path: Path, flavor: str) -> None:
    async with easel_on(tmp_path, flavor) as e:
        assert e.bot is not None
        assert e.bot.queue.backends["gpu0"].flavor == flavor
        await e.draw(prompt="a lighthouse", seed=77, steps=12, scheduler="Karras")
        first = await nth_result(e, 1)
        sent = e.webui.generations[-1]
        assert sent["seed"] == 77 and sent["steps"] == 12
        assert ("scheduler" in sent) == (flavor != "sdnext")  # SD.Next has no such field
        assert ("force_task_id" in sent) == (flavor != "sdnext")
        assert "Seed: 77" in (png_parameters(first.attachments[0].data) or "")

        init = FakeAttachment("photo.png", png(96, 64), content_type="image/png")
        await e.draw(prompt="as a painting", init_image=init, strength=0.4)
        painted = await nth_result(e, 2)
        assert e.webui.generations[-1]["denoising_strength"] == 0.4
        assert "img2img" in painted.content

        await click(e, first, button(first, "upscale"))
        upscaled = await nth_result(e, 3)
        with Image.open(io.BytesIO(upscaled.attachments[0].data)) as img:
            assert img.size == (1024, 1024)


@pytest.mark.parametrize(("flavor", "exclusive"), [("a1111", False), ("forge", False), ("sdnext", True)])
async def test_live_progress_and_cancel_stop_the_running_job(tmp_path: Path, flavor: str, exclusive: bool) -> None:
    async with easel_on(tmp_path, flavor, exclusive=exclusive) as e:
        e.webui.hold()
        inter = await e.draw(prompt="slowly")
        await e.webui.wait_generation_started(1)
        await e.discord.wait_for_message(
            lambda m: inter.original is not None and m.id == inter.original.id and "%" in m.content, timeout=10
        )
        job = inter.response["data"]["content"].split("`")[1]
        assert "Stopping job" in await cancel(e, job)
        assert e.webui.interrupts == 1
        await e.wait_reply(inter, lambda t: "cancelled" in t)
        assert results(e) == []


async def test_on_a_shared_sdnext_cancel_never_interrupts_someone_elses_picture(tmp_path: Path) -> None:
    async with easel_on(tmp_path, "sdnext") as e:
        assert e.bot is not None
        assert Capability.TASK_PROGRESS not in e.bot.queue.backends["gpu0"].capabilities
        e.webui.hold()
        inter = await e.draw(prompt="slowly")
        await e.webui.wait_generation_started(1)
        job = inter.response["data"]["content"].split("`")[1]
        assert "will not be posted" in await cancel(e, job)
        assert e.webui.interrupts == 0  # SD.Next cannot say whose picture is running
        e.webui.release()
        await e.wait_reply(inter, lambda t: "cancelled" in t)
        assert results(e) == []


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_a_picture_from_another_model_is_never_posted(tmp_path: Path, flavor: str) -> None:
    async with easel_on(tmp_path, flavor) as e:
        # The webui lost the checkpoint after Easel listed it: it draws with the loaded one, silently.
        e.webui.models = [m for m in e.webui.models if m.model_name != "sdxl_base"]
        inter = await e.draw(prompt="needs sdxl", model="sdxl_base")
        text = await e.wait_reply(inter, lambda t: "another model" in t)
        assert "sdxl_base" in text
        assert results(e) == []


@pytest.mark.parametrize(("flavor", "ahead"), [("a1111", True), ("forge", True), ("sdnext", False)])
async def test_prefetch_on_an_exclusive_webui_that_follows_tasks(tmp_path: Path, flavor: str, ahead: bool) -> None:
    async with easel_on(tmp_path, flavor, exclusive=True) as e:
        e.webui.hold()
        await e.draw(prompt="first")
        await e.webui.wait_generation_started(1)
        await e.draw(prompt="second")
        if ahead:  # the second waits at the webui while the first runs
            await e.webui.wait_for(lambda: len(e.webui.arrivals) == 2)
        e.webui.release(2)
        await nth_result(e, 2)
        assert [done for _, done in e.webui.arrivals] == ([0, 0] if ahead else [0, 1])
        assert [g["prompt"] for g in e.webui.generations] == ["first", "second"]
        assert len(results(e)) == 2  # each posted once
