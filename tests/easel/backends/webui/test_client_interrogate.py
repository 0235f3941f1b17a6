"""WebuiClient.interrogate against the loopback FakeWebui: CLIP, DeepDanbooru, SD.Next without the route."""

from __future__ import annotations

import io

import aiohttp
import pytest
from PIL import Image

from easel.backends.webui import WebuiClient, WebuiNotFound, WebuiServerError
from tests.fakes.webui_fake import FakeWebui


def picture(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (48, 32), colour).save(out, format="PNG")
    return out.getvalue()


async def test_clip_and_deepdanbooru() -> None:
    async with FakeWebui() as fake, aiohttp.ClientSession() as session:
        client = WebuiClient(fake.url, session, read_timeout=5.0, connect_timeout=2.0)
        assert await client.interrogate(picture((0, 0, 250)), model="clip") == "a blue picture of 48 by 32 pixels"
        tags = await client.interrogate(picture((250, 0, 0)), model="deepdanbooru")
        assert "red theme" in tags.split(", ")
        assert [b["model"] for b in fake.interrogations] == ["clip", "deepdanbooru"]
        with pytest.raises(WebuiNotFound):
            await client.interrogate(picture((1, 1, 1)), model="blip9")
        fake.fail_next("/sdapi/v1/interrogate", 500)
        with pytest.raises(WebuiServerError):
            await client.interrogate(picture((1, 1, 1)), model="clip")
        assert fake.validation_errors == []


async def test_sdnext_has_no_interrogate_route() -> None:
    async with FakeWebui(flavor="sdnext") as fake, aiohttp.ClientSession() as session:
        client = WebuiClient(fake.url, session, read_timeout=5.0, connect_timeout=2.0)
        with pytest.raises(WebuiNotFound):
            await client.interrogate(picture((1, 1, 1)), model="clip")
