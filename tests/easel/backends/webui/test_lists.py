"""easel.backends.webui.lists: the webui's optional lists, read through BackendClient.extras (and none on the Horde)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from easel.backends.base import CatalogExtras
from easel.backends.horde.client import from_config as horde_client
from easel.backends.webui import WebuiClient
from easel.config import parse_config
from tests.fakes.webui_fake import FakeWebui


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_a_webui_lists_its_loras_embeddings_adetailer_and_restorers(session: aiohttp.ClientSession) -> None:
    async with FakeWebui(adetailer=True) as fake:
        extras = await WebuiClient(fake.url, session, name="a").extras()
    assert isinstance(extras, CatalogExtras)
    assert extras.loras and all(i.name for i in extras.loras)
    assert extras.adetailer and "face_yolov8n.pt" in extras.ad_models
    assert extras.face_restorers  # CodeFormer / GFPGAN


async def test_the_horde_lists_none(session: aiohttp.ClientSession) -> None:
    cfg = parse_config({"backends": [{"kind": "horde", "url": "http://127.0.0.1:9"}]}, env={})
    assert await horde_client(cfg.backends[0], session).extras() == CatalogExtras()
