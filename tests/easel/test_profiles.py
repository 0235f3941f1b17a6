"""Model profiles: [[models]] parsing, matching by name or hash, inference from the name, server overrides, and the
layering of /draw's defaults (global, profile, server; under the limits)."""

from __future__ import annotations

from typing import Any

import pytest

from easel.backends.webui import ModelInfo
from easel.catalog import BackendCatalog, Catalog
from easel.config import ConfigError, ModelProfile
from easel.errors import RequestError
from easel.options import Flavor
from easel.policy import effective
from easel.profiles import Profiles, infer_profile, layer, parse_text, with_negative_prefix, with_trigger_words
from easel.request import DrawOptions, DrawRequest, aspect_size, build_payload, build_request
from tests.helpers import make_config


def catalog(*names: str) -> Catalog:
    cat = Catalog()
    models = tuple(
        ModelInfo(f"{n}.safetensors [{h}]", n, h, f"/models/{n}.safetensors")
        for n, h in zip(names, ("aaaa111111", "bbbb222222", "cccc333333"), strict=False)
    )
    cat.set("gpu0", BackendCatalog(models=models, samplers=("Euler a", "DPM++ 2M")))
    return cat


class Overrides:
    def __init__(self) -> None:
        self.data: dict[int, dict[str, dict[str, Any]]] = {}

    async def get_model_profiles(self, guild_id: int) -> dict[str, dict[str, Any]]:
        return dict(self.data.get(guild_id, {}))

    async def set_model_profile(self, guild_id: int, model: str, values: Any, *, by: int | None = None) -> None:
        if values:
            self.data.setdefault(guild_id, {})[model] = dict(values)
        else:
            self.data.get(guild_id, {}).pop(model, None)


def test_models_tables_are_checked_at_load() -> None:
    cfg = make_config(models=[{"model": "a", "steps": 30, "modules": ["x.safetensors"], "hidden": True}])
    assert cfg.models == (ModelProfile(model="a", steps=30, modules=("x.safetensors",), hidden=True),)
    bad = {
        "steps": ({"model": "a", "steps": 0}, r"models\[0\]\.steps: steps must be between 1 and 150"),
        "size": ({"model": "a", "base_size": 1001}, "multiple of 8"),
        "unknown": ({"model": "a", "colour": "red"}, "unknown key 'colour'"),
        "no model": ({"steps": 20}, "name the checkpoint"),
        "hidden": ({"model": "a", "hidden": "yes"}, "hidden must be true or false"),
        "distilled": ({"model": "a", "distilled_cfg_scale": 99}, "distilled_cfg_scale must be"),
    }
    for table, needle in bad.values():
        with pytest.raises(ConfigError, match=needle):
            make_config(models=[table])
    with pytest.raises(ConfigError, match="has a profile already"):
        make_config(models=[{"model": "a"}, {"model": "A"}])
    with pytest.raises(ConfigError, match="max_per_user"):
        make_config(presets={"max_per_user": 0})


def test_inferred_from_the_name() -> None:
    assert infer_profile("sdxl_base").base_size == 1024  # type: ignore[union-attr]
    assert infer_profile("ponyDiffusionV6").base_size == 1024  # type: ignore[union-attr]
    flux = infer_profile("flux1-dev-fp8")
    assert flux is not None and (flux.base_size, flux.cfg_scale, flux.distilled_cfg_scale) == (1024, 1.0, 3.5)
    assert infer_profile("v1-5-pruned-emaonly").base_size == 512  # type: ignore[union-attr]
    assert infer_profile("dreamshaper_8") is None  # the name tells nothing: the [defaults] apply


async def test_matched_by_name_title_or_hash_then_the_servers_overrides() -> None:
    cat = catalog("dreamshaper_8", "juggernaut", "other")
    store = Overrides()
    book = Profiles(
        [ModelProfile(model="dreamshaper_8.safetensors", steps=30), ModelProfile(hash="bbbb22", display_name="Jug")],
        store,
    )
    assert (await book.for_model("dreamshaper_8", 1, cat)).steps == 30  # by file name
    assert (await book.for_model("juggernaut", 1, cat)).display_name == "Jug"  # by hash
    assert (await book.for_model("other", 1, cat)) == ModelProfile(model="other")
    await book.set_override(1, "dreamshaper_8", "steps", 44, by=9)
    await book.set_override(1, "other", "hidden", True, by=9)
    assert (await book.for_model("dreamshaper_8", 1, cat)).steps == 44
    assert (await book.for_model("dreamshaper_8", 2, cat)).steps == 30  # another server: the configured one
    assert await book.hidden(1, cat) == {"other"} and await book.hidden(2, cat) == set()
    with pytest.raises(RequestError, match="steps must be between 1 and 150"):
        await book.set_override(1, "other", "steps", 500, by=9)
    with pytest.raises(RequestError, match="Unknown profile key"):
        await book.set_override(1, "other", "model", "x", by=9)
    await book.set_override(1, "dreamshaper_8", "steps", None, by=9)
    assert (await book.for_model("dreamshaper_8", 1, cat)).steps == 30
    await book.clear(1, "other", by=9)
    assert await book.hidden(1, cat) == set()
    profiles = await book.for_models(1, cat)
    assert profiles["juggernaut"].display_name == "Jug" and profiles["dreamshaper_8"].steps == 30


def test_text_values_of_profile_set() -> None:
    assert parse_text("hidden", "true") is True and parse_text("steps", "30") == 30
    assert parse_text("cfg_scale", "5.5") == 5.5 and parse_text("modules", "a, b") == "a, b"
    with pytest.raises(RequestError, match="steps must be a number"):
        parse_text("steps", "lots")
    with pytest.raises(RequestError, match="hidden must be true or false"):
        parse_text("hidden", "maybe")


def test_layering_global_then_profile_then_server_then_the_options() -> None:
    cfg = make_config(defaults={"steps": 20}, limits={"max_width": 1536, "max_height": 1536, "max_pixels": 1536**2})
    profile = ModelProfile(model="m", steps=35, cfg_scale=4.0, base_size=1024, sampler="DPM++ 2M", vae="v")
    eff = effective(cfg, {"cfg_scale": 6.5})  # the server sets a CFG scale, not steps
    layered = layer(eff.config, eff.sources, profile)
    d = layered.config.defaults
    assert (d.steps, d.cfg_scale, d.sampler, d.width, d.height) == (35, 6.5, "DPM++ 2M", 1024, 1024)
    assert layered.vae == "v"
    req = build_request(DrawOptions(prompt="x", steps=12), layered.config)
    assert (req.steps, req.cfg_scale, req.width) == (12, 6.5, 1024)  # the options given win
    wide = build_request(DrawOptions(prompt="x", aspect="16:9"), layered.config)
    assert (wide.width, wide.height) == aspect_size("16:9", layered.config) == (1368, 768)  # the model's budget
    assert layer(eff.config, eff.sources, None).config is eff.config


def test_a_profile_never_goes_past_the_limits() -> None:
    cfg = make_config(limits={"max_steps": 40, "max_width": 768, "max_height": 768, "max_pixels": 768 * 768})
    eff = effective(cfg, {})
    layered = layer(eff.config, eff.sources, ModelProfile(model="m", steps=80, base_size=1024, max_width=640))
    d, lim = layered.config.defaults, layered.config.limits
    assert d.steps == 40 and lim.max_width == 640 and d.width <= 640 and d.height <= 768
    assert d.width * d.height <= lim.max_pixels
    build_request(DrawOptions(prompt="x"), layered.config)  # a /draw without options still fits
    with pytest.raises(RequestError, match="width must be between 64 and 640"):
        build_request(DrawOptions(prompt="x", width=768), layered.config)


def test_trigger_words_once_and_the_negative_prefix() -> None:
    assert with_trigger_words("a cat", "masterpiece") == "a cat, masterpiece"
    assert with_trigger_words("a cat, Masterpiece", "masterpiece") == "a cat, Masterpiece"
    assert with_trigger_words("a cat", "") == "a cat"
    assert with_negative_prefix("blurry", "lowres") == "lowres, blurry"
    assert with_negative_prefix("", "lowres") == "lowres"
    assert with_negative_prefix("lowres, blurry", "lowres") == "lowres, blurry"


def test_payload_per_flavor() -> None:
    req = DrawRequest(prompt="x", vae="v.safetensors", modules=("/m/ae.safetensors",), distilled_cfg_scale=3.5)
    a1111 = build_payload(req, flavor=Flavor.A1111)
    assert a1111["override_settings"]["sd_vae"] == "v.safetensors" and "distilled_cfg_scale" not in a1111
    forge = build_payload(req, flavor=Flavor.FORGE)
    assert forge["override_settings"]["forge_additional_modules"] == ["/m/ae.safetensors"]
    assert forge["distilled_cfg_scale"] == 3.5 and "sd_vae" not in forge["override_settings"]
    assert "override_settings" not in build_payload(DrawRequest(prompt="x"), flavor=Flavor.FORGE)
