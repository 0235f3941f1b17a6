"""WebuiClient.interrogate against the loopback FakeWebui: CLIP, DeepDanbooru; SD.Next's caption routes (OpenCLIP,
the tagger) found at detect time, one of them answering both models, none offered."""

from __future__ import annotations

import io

import aiohttp
import pytest
from PIL import Image

from easel.backends.base import Capability
from easel.backends.webui import WebuiClient, WebuiNotFound, WebuiServerError
from tests.fakes.webui_fake import FakeWebui


def picture(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (48, 32), colour).save(out, format="PNG")
    return out.getvalue()


def posted(fake: FakeWebui, path: str) -> int:
    return sum(1 for method, p, _body in fake.requests if method == "POST" and p == path)


def listed(fake: FakeWebui, path: str) -> int:
    return sum(1 for method, p, _body in fake.requests if method == "GET" and p == path)


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


async def test_sdnext_captions_a_sentence_with_openclip_and_tags_with_the_tagger() -> None:
    async with (
        FakeWebui(flavor="sdnext", captions=("openclip", "tagger")) as fake,
        aiohttp.ClientSession() as session,
    ):
        client = WebuiClient(fake.url, session, read_timeout=5.0, connect_timeout=2.0)
        desc = await client.detect()
        assert Capability.INTERROGATE in desc.capabilities
        assert await client.interrogate(picture((0, 0, 250)), model="clip") == "a blue picture of 48 by 32 pixels"
        tags = await client.interrogate(picture((250, 0, 0)), model="deepdanbooru")
        assert tags.split(", ") == ["no humans", "simple background", "red theme", "48x32"]  # spaces, like A1111
        (clip_route, clip_body), (tag_route, tag_body) = fake.caption_calls
        assert clip_route == "openclip" and clip_body["model"] == clip_body["clip_model"] == "ViT-L-14/openai"
        assert clip_body["mode"] == "classic"
        assert (tag_route, tag_body["model"]) == ("tagger", "deepbooru")
        assert posted(fake, "/sdapi/v1/interrogate") == 0
        with pytest.raises(WebuiNotFound):  # not an interrogator model: refused before any call
            await client.interrogate(picture((1, 1, 1)), model="blip9")
        fake.fail_next("/sdapi/v1/tagger", 500)
        with pytest.raises(WebuiServerError):
            await client.interrogate(picture((1, 1, 1)), model="deepdanbooru")
        # the routes were found once, at detect time, not per call
        assert listed(fake, "/sdapi/v1/openclip") == 1 and listed(fake, "/sdapi/v1/tagger/models") == 1
        assert fake.validation_errors == []


async def test_sdnext_with_only_the_tagger_answers_both_models_with_it() -> None:
    async with FakeWebui(flavor="sdnext", captions=("tagger",)) as fake, aiohttp.ClientSession() as session:
        client = WebuiClient(fake.url, session, read_timeout=5.0, connect_timeout=2.0)
        assert Capability.INTERROGATE in (await client.detect()).capabilities
        assert "blue theme" in (await client.interrogate(picture((0, 0, 250)), model="clip")).split(", ")
        assert [route for route, _body in fake.caption_calls] == ["tagger"]
        assert fake.validation_errors == []


async def test_sdnext_without_caption_routes_cannot_interrogate() -> None:
    async with FakeWebui(flavor="sdnext") as fake, aiohttp.ClientSession() as session:
        client = WebuiClient(fake.url, session, read_timeout=5.0, connect_timeout=2.0)
        assert Capability.INTERROGATE not in (await client.detect()).capabilities
        with pytest.raises(WebuiNotFound):
            await client.interrogate(picture((1, 1, 1)), model="clip")
        assert posted(fake, "/sdapi/v1/interrogate") == 0 and fake.caption_calls == []


async def test_a_caption_route_failing_at_detect_is_off_until_the_next_detect() -> None:
    async with (
        FakeWebui(flavor="sdnext", captions=("openclip", "tagger")) as fake,
        aiohttp.ClientSession() as session,
    ):
        client = WebuiClient(fake.url, session, read_timeout=5.0, connect_timeout=2.0)
        fake.fail_next("/sdapi/v1/openclip", 500)
        fake.fail_next("/sdapi/v1/tagger/models", 500)
        assert Capability.INTERROGATE not in (await client.detect()).capabilities  # the backend still comes up
        with pytest.raises(WebuiNotFound):
            await client.interrogate(picture((1, 1, 1)), model="clip")
        assert Capability.INTERROGATE in (await client.detect()).capabilities
        assert await client.interrogate(picture((0, 250, 0)), model="clip") == "a green picture of 48 by 32 pixels"
