"""easel.catalog: what the backends can draw with, fetched from the webui fake and answered from memory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest

from easel.backends.webui import ModelInfo, WebuiClient, WebuiServerError
from easel.catalog import BackendCatalog, Catalog
from tests.fakes.webui_fake import FakeWebui


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def client_for(fake: FakeWebui, session: aiohttp.ClientSession, name: str = "gpu-a") -> WebuiClient:
    return WebuiClient(fake.url, session, name=name, connect_timeout=2.0, short_timeout=5.0, read_timeout=10.0)


def model(name: str, *, folder: str = "/models/Stable-diffusion/", sub: str = "") -> ModelInfo:
    return ModelInfo(
        title=f"{sub}{name}.safetensors [abc123]",
        model_name=name,
        hash="abc123",
        filename=f"{folder}{name}.safetensors",
    )


@pytest.fixture
def catalog() -> Catalog:
    cat = Catalog()
    cat.set(
        "gpu-a",
        BackendCatalog(
            models=(model("v1-5-pruned-emaonly"), model("sdxl_base")),
            samplers=("Euler a", "DPM++ 2M"),
            schedulers=("Karras",),
            styles=("cinematic", "watercolor"),
            upscalers=("R-ESRGAN 4x+", "Latent"),
        ),
    )
    cat.set(
        "gpu-b",
        BackendCatalog(
            models=(
                model("sdxl_base"),
                model("dreamshaper_8", folder="C:\\models\\Stable-diffusion\\sd15\\", sub="sd15\\"),
            ),
            samplers=("Euler a", "UniPC"),
            styles=("Cinematic",),
        ),
    )
    return cat


# ---- refresh against the webui ---------------------------------------------------------------------------------


async def test_refresh_reads_every_list_from_the_webui(session: aiohttp.ClientSession) -> None:
    async with FakeWebui(models=("v1-5-pruned-emaonly", "sdxl_base")) as fake:
        fake.loaded_model = "sdxl_base"
        cat = Catalog()
        assert not cat.known
        got = await cat.refresh("gpu-a", client_for(fake, session))
    assert cat.known and cat.get("gpu-a") is got
    assert [m.model_name for m in got.models] == ["v1-5-pruned-emaonly", "sdxl_base"]
    assert got.loaded_model == "sdxl_base"  # the options' title mapped back to a model_name
    assert "Euler a" in got.samplers and "Karras" in got.schedulers
    assert got.styles == ("cinematic", "watercolor")
    assert "R-ESRGAN 4x+" in got.upscalers
    assert cat.resolve_model("SDXL_BASE.safetensors") == "sdxl_base"
    assert cat.backends_with_model("sdxl_base") == ["gpu-a"]


async def test_refresh_without_schedulers_route_keeps_the_rest(session: aiohttp.ClientSession) -> None:
    async with FakeWebui() as fake:
        fake.fail_next("schedulers", 404, {"detail": "Not Found"})  # webui < 1.9
        got = await Catalog().refresh("old", client_for(fake, session))
    assert got.schedulers == () and got.samplers and got.models


async def test_refresh_failure_raises_and_keeps_the_previous_lists(session: aiohttp.ClientSession) -> None:
    async with FakeWebui() as fake:
        cat = Catalog()
        first = await cat.refresh("gpu-a", client_for(fake, session))
        fake.fail_next("sd-models", 500)
        with pytest.raises(WebuiServerError):
            await cat.refresh("gpu-a", client_for(fake, session))
    assert cat.get("gpu-a") is first


async def test_refresh_log_never_shows_url_credentials(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with FakeWebui() as fake:
        name = fake.url.replace("http://", "http://alice:s3cret-Pw@")  # a name made from the URL
        await Catalog().refresh(name, client_for(fake, session, name=name))
    assert "catalog:" in caplog.text and "2 models" in caplog.text
    assert "s3cret-Pw" not in caplog.text


# ---- queries -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("sdxl_base", "sdxl_base"),
        ("  SDXL_Base ", "sdxl_base"),  # case and spaces
        ("sdxl_base.safetensors [abc123]", "sdxl_base"),  # the full title
        ("sdxl_base.safetensors", "sdxl_base"),  # the file name
        ("dreamshaper_8", "dreamshaper_8"),  # a Windows path in filename
        ("sd15\\dreamshaper_8.safetensors [abc123]", "dreamshaper_8"),  # title with its sub-folder
        ("dreamshaper", None),
        ("", None),
    ],
)
def test_resolve_model(catalog: Catalog, name: str, expected: str | None) -> None:
    assert catalog.resolve_model(name) == expected


def test_backends_with_model_and_titles(catalog: Catalog) -> None:
    assert catalog.backends_with_model("sdxl_base") == ["gpu-a", "gpu-b"]
    assert catalog.backends_with_model("dreamshaper_8") == ["gpu-b"]
    assert catalog.backends_with_model("nope") == []
    assert catalog.model_title("gpu-a", "sdxl_base") == "sdxl_base.safetensors [abc123]"
    assert catalog.model_title("gpu-x", "sdxl_base") is None
    assert catalog.backend_has_model("gpu-a", "dreamshaper_8") is False


def test_merged_lists_keep_first_seen_order_without_duplicates(catalog: Catalog) -> None:
    assert catalog.model_names() == ["dreamshaper_8", "sdxl_base", "v1-5-pruned-emaonly"]  # sorted, unique
    assert catalog.samplers() == ["Euler a", "DPM++ 2M", "UniPC"]
    assert catalog.has_sampler("euler A") and not catalog.has_sampler("Heun")
    assert catalog.has_style("WATERCOLOR") and not catalog.has_style("sketch")
    assert catalog.has_scheduler("karras") and not catalog.has_scheduler("Exponential")


def test_unknown_lists_accept_anything() -> None:
    # Before any backend answered, a sampler/scheduler cannot be checked: it is let through (the webui decides).
    empty = Catalog()
    assert empty.has_sampler("Anything") and empty.has_scheduler("Anything")
    assert not empty.has_style("cinematic") and empty.resolve_model("x") is None


def test_search(catalog: Catalog) -> None:
    assert catalog.search("model", "sd") == ["sdxl_base"]
    assert catalog.search("model", "") == ["dreamshaper_8", "sdxl_base", "v1-5-pruned-emaonly"]
    assert catalog.search("sampler", "a") == ["Euler a"]
    assert catalog.search("style", "CIN") == ["cinematic", "Cinematic"]
    assert catalog.search("upscaler", "4x") == ["R-ESRGAN 4x+"]
    assert catalog.search("model", "e", limit=2) == ["dreamshaper_8", "sdxl_base"]


def test_search_prefix_matches_first_and_names_cut_to_100(catalog: Catalog) -> None:
    long = "x" * 150
    catalog.set("gpu-c", BackendCatalog(models=(model("base_sdxl"), model(long))))
    assert catalog.search("model", "base")[:2] == ["base_sdxl", "sdxl_base"]
    assert catalog.search("model", "xxx") == [long[:100]]


# ---- LoRAs, embeddings, face fix ---------------------------------------------------------------------------------


async def test_refresh_reads_loras_embeddings_and_face_fix(session: aiohttp.ClientSession) -> None:
    from easel.loras import LoraInfo
    from easel.request import DrawRequest

    freq = '{"10_x": {"detailed": 9, "sharp": 2}}'
    with_ad = FakeWebui(
        adetailer=True, embeddings=["EasyNegative"], lora_metadata={"add_detail": {"ss_tag_frequency": freq}}
    )
    plain = FakeWebui(loras=["add_detail", "pixel_art_v2"], face_restorers=["GFPGAN"], flavor="forge")
    async with with_ad, plain:
        cat = Catalog()
        a = await cat.refresh("a", client_for(with_ad, session, "a"))
        b = await cat.refresh("b", client_for(plain, session, "b"))
    assert a.loras == (LoraInfo("add_detail", "add_detail", "detailed"), LoraInfo("lcm-lora-sdv1-5", "lcm-lora-sdv1-5"))
    assert a.embeddings == ("EasyNegative",) and b.embeddings == ()
    assert a.adetailer and "face_yolov8n.pt" in a.ad_models and a.face_restorers == ("CodeFormer", "GFPGAN")
    assert not b.adetailer and b.ad_models == () and b.face_restorers == ("GFPGAN",)
    assert [i.name for i in cat.lora_infos()] == ["add_detail", "lcm-lora-sdv1-5", "pixel_art_v2"]
    assert cat.lora_trigger("add_detail") == "detailed"
    assert cat.backends_with_lora("pixel_art_v2") == ["b"] and cat.backends_with_lora("ADD_DETAIL") == ["a", "b"]
    assert cat.embedding_names() == ["EasyNegative"] and cat.backends_with_embedding("EasyNegative") == ["a"]
    assert cat.face_fix_ok("adetailer") and cat.face_fix_ok("gfpgan") and not cat.face_fix_ok("off")

    pixel = DrawRequest(prompt="x", lora="pixel_art_v2:0.5")
    assert not cat.supports("a", pixel) and cat.supports("b", pixel)
    ad = DrawRequest(prompt="x", face_fix="adetailer")
    assert cat.supports("a", ad) and not cat.supports("b", ad)
    on = DrawRequest(prompt="x", face_fix="on")
    assert cat.fit("a", on).face_fixer == "adetailer:face_yolov8n.pt"
    assert cat.fit("b", on).face_fixer == "restore:GFPGAN"
    assert not cat.supports("c", pixel) and cat.supports("c", DrawRequest(prompt="x"))  # c never answered


async def test_a_webui_without_the_optional_lists_still_counts(session: aiohttp.ClientSession) -> None:
    async with FakeWebui(loras=()) as fake:
        for route in ("/sdapi/v1/loras", "/sdapi/v1/scripts", "/sdapi/v1/face-restorers", "/sdapi/v1/embeddings"):
            fake.fail_next(route, 404)
        cat = Catalog()
        got = await cat.refresh("a", client_for(fake, session, "a"))
    assert got.models and (got.loras, got.embeddings, got.face_restorers, got.adetailer) == ((), (), (), False)
    assert not cat.face_fix_ok("on")
