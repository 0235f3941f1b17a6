"""Presets in the core: what a preset keeps of a request, how it fills options, names, caps, ownership, and the
refusal of a preset whose model or sampler is gone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from easel.backends.webui import ModelInfo
from easel.catalog import BackendCatalog, Catalog
from easel.config import PresetsConfig
from easel.errors import RequestError
from easel.loras import LoraInfo
from easel.presets import Preset, PresetBook, PresetScope, apply_preset, check_available, check_name, options_of_request
from easel.request import DrawOptions, DrawRequest
from easel.store import Store


@pytest.fixture
async def book(tmp_path: Path) -> AsyncIterator[PresetBook]:
    store = await Store.open(tmp_path / "e.db")
    yield PresetBook(store, PresetsConfig(max_per_user=2, max_per_server=1))
    await store.close()


def test_a_preset_keeps_the_options_not_the_seed() -> None:
    req = DrawRequest(prompt="fox", steps=30, seed=77, width=1024, height=576, aspect="16:9", spoiler=True)
    values = options_of_request(req)
    assert values == {"prompt": "fox", "sampler": "Euler a", "steps": 30, "aspect": "16:9", "cfg_scale": 7.0}
    plain = options_of_request(DrawRequest(prompt="fox", width=640, height=512, count=3, hires_fix=True))
    assert (plain["width"], plain["height"], plain["count"], plain["hires_fix"]) == (640, 512, 3, True)
    assert "width" not in options_of_request(DrawRequest(prompt="x", img2img=True, width=640))


def test_applied_under_the_options_given() -> None:
    preset = Preset(1, PresetScope.USER, 1, "p", {"prompt": "fox", "steps": 30, "aspect": "16:9", "model": "m"})
    opts = apply_preset(DrawOptions(prompt="cat", steps=10), preset)
    assert (opts.prompt, opts.steps, opts.aspect, opts.model) == ("cat", 10, "16:9", "m")
    assert apply_preset(DrawOptions(prompt=""), preset).prompt == "fox"
    sized = apply_preset(DrawOptions(prompt="cat", width=512), preset)
    assert sized.aspect is None  # a side given: the preset's ratio doesn't bend it
    sized_preset = Preset(2, PresetScope.USER, 1, "q", {"width": 640, "height": 640})
    assert apply_preset(DrawOptions(prompt="c", aspect="3:2"), sized_preset).width is None
    wide = Preset(3, PresetScope.USER, 1, "w", {"width": 640, "height": 512, "hires_fix": True, "steps": 30})
    from_image = apply_preset(DrawOptions(prompt="c"), wide, img2img=True)
    assert (from_image.width, from_image.height, from_image.hires_fix, from_image.steps) == (None, None, None, 30)


def test_names() -> None:
    assert check_name("  My   anime ") == "My anime"
    assert check_name("server:photo") == "photo"
    for bad in ("", "a/b", "x" * 33, "none", "#12"):
        with pytest.raises(RequestError, match="A preset name is"):
            check_name(bad)


async def test_caps_ownership_and_defaults(book: PresetBook) -> None:
    alice, bob, guild = 1, 2, 9
    a = await book.save(alice, guild, "one", {"steps": 30})
    await book.save(alice, guild, "two", {"steps": 31})
    with pytest.raises(RequestError, match="You can keep 2 presets"):
        await book.save(alice, guild, "three", {"steps": 32})
    assert (await book.save(alice, guild, "ONE", {"steps": 33})).id == a.id  # replacing is no new one
    with pytest.raises(RequestError, match="nothing to save"):
        await book.save(alice, guild, "two", {"seed": 5})
    photo = await book.save(alice, guild, "photo", {"cfg_scale": 4.0}, server=True)
    with pytest.raises(RequestError, match="This server can keep 1 presets"):
        await book.save(alice, guild, "other", {"steps": 1}, server=True)

    assert (await book.find(bob, guild, "photo")).id == photo.id  # a server preset: every member's
    assert (await book.find(bob, guild, f"#{photo.id}")).id == photo.id
    with pytest.raises(RequestError, match="no preset photo"):
        await book.find(bob, 10, "photo")  # not in another server
    with pytest.raises(RequestError, match="someone else's"):
        await book.find(bob, guild, f"#{a.id}")
    with pytest.raises(RequestError, match="There is no preset #999"):
        await book.find(bob, guild, "#999")
    with pytest.raises(RequestError, match="Only the server's admins"):
        await book.delete(bob, guild, "server:photo")
    with pytest.raises(RequestError, match="someone else's"):
        await book.delete(bob, guild, f"#{a.id}")

    await book.set_default(bob, guild, "photo")
    assert (await book.default_for(bob, guild)).id == photo.id  # type: ignore[union-attr]
    assert await book.default_for(bob, 10) is None  # a server preset is a default in its own server only
    await book.delete(alice, guild, "server:photo", admin=True)
    assert await book.default_for(bob, guild) is None
    own, server, default = await book.listing(alice, guild)
    assert [p.name for p in own] == ["ONE", "two"] and server == [] and default is None
    assert [p.name for p in await book.search(alice, guild, "tw")] == ["two"]


def test_a_preset_whose_model_or_sampler_is_gone_is_refused() -> None:
    cat = Catalog()
    cat.set("gpu0", BackendCatalog(models=(ModelInfo("m [h]", "m", "h", "m.safetensors"),), samplers=("Euler a",)))
    check_available(Preset(1, PresetScope.USER, 1, "ok", {"model": "m", "sampler": "Euler a"}), cat)
    with pytest.raises(RequestError, match="uses the model gone, which no image server has any more"):
        check_available(Preset(1, PresetScope.USER, 1, "p", {"model": "gone"}), cat)
    with pytest.raises(RequestError, match="uses the sampler Heun"):
        check_available(Preset(1, PresetScope.USER, 1, "p", {"sampler": "Heun"}), cat)
    check_available(Preset(1, PresetScope.USER, 1, "p", {"model": "gone"}), Catalog())  # nothing known yet


def test_a_preset_whose_lora_is_gone_is_refused() -> None:
    cat = Catalog()
    cat.set("gpu0", BackendCatalog(samplers=("Euler a",), loras=(LoraInfo("add_detail", "detail"),)))
    check_available(Preset(1, PresetScope.USER, 1, "ok", {"lora": "add_detail:0.5"}), cat)
    with pytest.raises(RequestError, match="uses the LoRA old_style, which no image server has any more"):
        check_available(Preset(1, PresetScope.USER, 1, "p", {"lora": "add_detail:0.5, old_style:1"}), cat)
