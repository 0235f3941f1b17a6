"""The image tools through the one admission path: a picture downloaded only once every rule has passed, the
request fitted to it, no prompt needed for upscale and describe, the img2img policy on zoom and pan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from easel.admission import Ask
from easel.config import Limits
from easel.errors import PolicyError, QueueFull, RequestError
from easel.policy import REFUSED_BLOCKED
from easel.request import DrawRequest
from easel.store import Store
from easel.tools import describe_request, sized_upscale, upscale_request
from tests.easel.test_admission import ADMIN, GUILD, USER, Setup, limits_config


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "easel.db")
    yield s
    await s.close()


class Loader:
    def __init__(self, size: tuple[int, int] = (300, 200)) -> None:
        self.calls: list[Limits] = []
        self.size = size

    async def __call__(self, limits: Limits) -> tuple[bytes, tuple[int, int]]:
        self.calls.append(limits)
        return b"png", self.size


async def test_upscale_of_a_picture_is_sized_after_the_download(store: Store) -> None:
    s = Setup(store, limits_config(cooldown_seconds=0.0))
    load = Loader()
    cfg = s.queue.cfg
    ask = Ask(request=upscale_request(upscaler="Lanczos", factor=2.0), init_image=load, sized=sized_upscale(cfg.tools))
    job = await s.admit(ask)
    assert len(load.calls) == 1
    assert (job.request.width, job.request.height, job.request.kind) == (600, 400, "upscale")
    assert await store.load_init_image(job.id) == b"png"


async def test_nothing_is_downloaded_for_a_refused_tool(store: Store) -> None:
    s = Setup(store, limits_config(cooldown_seconds=0.0, max_queued_per_user=1))
    load = Loader()
    await s.policy.add_items(GUILD, "blocked_users", [USER], by=ADMIN)
    with pytest.raises(PolicyError, match=REFUSED_BLOCKED):
        await s.admit(Ask(request=describe_request("clip"), init_image=load))
    await s.policy.remove_items(GUILD, "blocked_users", [USER], by=ADMIN)
    await s.admit(Ask(request=describe_request("clip"), init_image=load))  # no prompt needed
    with pytest.raises(QueueFull):  # one job in line is the limit: refused before the download
        await s.admit(Ask(request=describe_request("clip"), init_image=load))
    assert len(load.calls) == 1


async def test_a_ceiling_past_the_download_refuses_and_queues_nothing(store: Store) -> None:
    s = Setup(store, limits_config(cooldown_seconds=0.0))
    tools = s.queue.cfg.tools
    ask = Ask(
        request=upscale_request(upscaler="x", factor=4.0), init_image=Loader((4000, 4000)), sized=sized_upscale(tools)
    )
    with pytest.raises(RequestError, match="pixels an upscale may have"):
        await s.admit(ask)
    assert s.queue.queued_jobs() == []


async def test_zoom_and_pan_follow_the_img2img_policy(store: Store) -> None:
    s = Setup(store, limits_config(cooldown_seconds=0.0))
    await s.policy.set_text(GUILD, "img2img", "nsfw_only", by=ADMIN)
    zoom = DrawRequest(prompt="a bay", img2img=True, outpaint="zoom:2", width=1024, height=1024, init_image=b"p")
    with pytest.raises(PolicyError, match="only in age-restricted channels"):
        await s.admit(Ask(request=zoom))
