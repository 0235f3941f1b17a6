from __future__ import annotations

from dataclasses import replace

import pytest

from easel.config import parse_config
from easel.infotext import parse_infotext
from easel.request import (
    DrawOptions,
    DrawRequest,
    RequestError,
    build_payload,
    build_request,
    options_from_infotext,
)
from tests.fakes.webui_fake import validate_payload

CFG = parse_config({"backends": [{"url": "http://127.0.0.1:7860"}]}, env={})


class Cat:
    known = True

    def resolve_model(self, name: str) -> str | None:
        return {"sdxl": "sdxl_base", "sdxl_base": "sdxl_base", "v1-5-pruned-emaonly": "v1-5-pruned-emaonly"}.get(
            name.lower()
        )

    def has_sampler(self, name: str) -> bool:
        return name in ("Euler a", "Euler", "DPM++ 2M")

    def has_scheduler(self, name: str) -> bool:
        return name in ("Karras", "Automatic")

    def has_style(self, name: str) -> bool:
        return name == "Cinematic"


def test_defaults_applied() -> None:
    req = build_request(DrawOptions(prompt="  a cat  "), CFG, Cat())
    assert req.prompt == "a cat"
    assert (req.steps, req.width, req.height, req.sampler, req.count, req.seed) == (25, 512, 512, "Euler a", 1, -1)
    assert req.model is None and not req.img2img


@pytest.mark.parametrize(
    ("opts", "needle"),
    [
        (DrawOptions(prompt="   "), "prompt is empty"),
        (DrawOptions(prompt="x", steps=51), "steps must be between 1 and 50"),
        (DrawOptions(prompt="x", width=513), "multiple of 8"),
        (DrawOptions(prompt="x", width=2048), "between 64 and 1024"),
        (DrawOptions(prompt="x", width=1024, height=1024 + 8), "between 64 and 1024"),
        (DrawOptions(prompt="x", count=5), "count must be between 1 and 4"),
        (DrawOptions(prompt="x", cfg_scale=31), "cfg_scale"),
        (DrawOptions(prompt="x", seed=-2), "seed"),
        (DrawOptions(prompt="x", model="nope"), "Unknown model 'nope'"),
        (DrawOptions(prompt="x", sampler="Bogus"), "Unknown sampler"),
        (DrawOptions(prompt="x", scheduler="Bogus"), "Unknown scheduler"),
        (DrawOptions(prompt="x", style="Bogus"), "Unknown style"),
        (DrawOptions(prompt="x", strength=0.5), "only applies with an init_image"),
        (DrawOptions(prompt="x" * 1501), "limit is 1500"),
        (DrawOptions(prompt="x", hires_fix=True, init_image_size=(512, 512)), "hires_fix"),
    ],
)
def test_bad_options_refused_with_reason(opts: DrawOptions, needle: str) -> None:
    with pytest.raises(RequestError) as info:
        build_request(opts, CFG, Cat())
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_pixel_limit() -> None:
    cfg = parse_config({"backends": [{"url": "http://a:1"}], "limits": {"max_pixels": 512 * 768}}, env={})
    with pytest.raises(RequestError, match="pixels"):
        build_request(DrawOptions(prompt="x", width=768, height=768), cfg)


def test_model_resolved_to_canonical_name() -> None:
    req = build_request(DrawOptions(prompt="x", model="SDXL"), CFG, Cat())
    assert req.model == "sdxl_base"


def test_img2img_size_follows_the_init_image_within_limits() -> None:
    req = build_request(DrawOptions(prompt="x", init_image_size=(3000, 2000), strength=0.4), CFG, Cat())
    assert req.img2img and req.strength == 0.4
    assert req.width % 8 == 0 and req.height % 8 == 0
    assert req.width * req.height <= CFG.limits.max_pixels
    assert abs(req.width / req.height - 1.5) < 0.05
    small = build_request(DrawOptions(prompt="x", init_image_size=(100, 100)), CFG, Cat())
    assert (small.width, small.height) == (512, 512)


def test_txt2img_payload_matches_the_webui_schema() -> None:
    req = build_request(
        DrawOptions(
            prompt="a cat",
            negative_prompt="blurry",
            model="sdxl",
            sampler="DPM++ 2M",
            scheduler="Karras",
            steps=30,
            seed=42,
            count=3,
            style="Cinematic",
            hires_fix=True,
        ),
        CFG,
        Cat(),
    )
    payload = build_payload(req, model_title="sdxl_base.safetensors [31e35c80fc]")
    assert validate_payload("txt2img", payload) == []
    assert payload["override_settings"] == {"sd_model_checkpoint": "sdxl_base.safetensors [31e35c80fc]"}
    assert payload["n_iter"] == 3 and payload["seed"] == 42 and payload["styles"] == ["Cinematic"]
    assert payload["enable_hr"] is True and payload["denoising_strength"] == 0.5
    assert None not in payload.values()


def test_img2img_payload_matches_the_webui_schema() -> None:
    req = build_request(DrawOptions(prompt="a cat", init_image_size=(512, 512), strength=0.3), CFG, Cat())
    req = DrawRequest.from_record(req.to_record(), b"\x89PNG fake")
    payload = build_payload(req)
    assert validate_payload("img2img", payload) == []
    assert payload["denoising_strength"] == 0.3
    assert payload["init_images"] == ["iVBORyBmYWtl"]
    assert "override_settings" not in payload


def test_record_round_trip() -> None:
    req = build_request(DrawOptions(prompt="p", seed=7, spoiler=True), CFG, Cat())
    assert DrawRequest.from_record(req.to_record()) == req


@pytest.mark.parametrize("prompt", ["\u200b", "\u200b\u200c\u200d\ufeff", " \u2060 \u00ad ", "\u3164\u3164", "\u2800"])
def test_a_prompt_of_invisible_characters_is_empty(prompt: str) -> None:
    with pytest.raises(RequestError, match="prompt is empty"):
        build_request(DrawOptions(prompt=prompt), CFG, Cat())
    assert build_request(DrawOptions(prompt="\u200bcat\u200b"), CFG, Cat()).prompt  # text around them is fine


@pytest.mark.parametrize(
    "size", ["9" * 5000 + "x512", "512x" + "9" * 5000, "1e400x512", "9" * 400 + "x" + "9" * 400, "99999x99999"]
)
def test_draw_this_again_with_a_huge_size_is_refused_or_uses_the_defaults(size: str) -> None:
    info = parse_infotext(f"a cat\nSteps: 20, Sampler: Euler a, CFG scale: 1e999, Seed: 5, Size: {size}")
    opts = options_from_infotext(info)  # raised OverflowError
    assert opts.steps == 20 and opts.seed == 5
    with pytest.raises(RequestError) as err:
        build_request(opts, CFG, Cat())
    message = str(err.value)
    assert "\n" not in message and len(message) < 200
    assert build_request(replace(opts, cfg_scale=None, width=None, height=None), CFG, Cat()).width == 512


@pytest.mark.parametrize(
    ("opts", "needle"),
    [
        (DrawOptions(prompt="x", steps=10**5000), "steps must be between 1 and 50 (got a number with too many"),
        (DrawOptions(prompt="x", cfg_scale=10**400), "cfg_scale must be between 1 and 30"),
        (DrawOptions(prompt="x", cfg_scale=float("nan")), "cfg_scale must be a finite number"),
        (DrawOptions(prompt="x", seed=2**70), "seed must be between 0 and 4294967294, or -1 for random"),
        (DrawOptions(prompt="x", width=8 * 10**30), "width must be between 64 and 1024"),
        (DrawOptions(prompt="x", steps=2.5), "steps must be a whole number"),  # type: ignore[arg-type]
    ],
)
def test_out_of_range_numbers_get_one_short_line(opts: DrawOptions, needle: str) -> None:
    with pytest.raises(RequestError) as err:
        build_request(opts, CFG, Cat())
    assert needle in str(err.value)
    assert "\n" not in str(err.value) and len(str(err.value)) < 200


@pytest.mark.parametrize("flavor", ["a1111", "forge"])
def test_clip_skip_goes_to_override_settings_on_a1111_and_forge(flavor: str) -> None:
    req = build_request(DrawOptions(prompt="x", model="sdxl", clip_skip=2), CFG, Cat())
    payload = build_payload(req, model_title="sdxl_base.safetensors [31e35c80fc]", flavor=flavor)
    assert payload["override_settings"] == {
        "sd_model_checkpoint": "sdxl_base.safetensors [31e35c80fc]",
        "CLIP_stop_at_last_layers": 2,
    }
    assert "clip_skip" not in payload
    assert validate_payload("txt2img", payload) == []


def test_clip_skip_is_top_level_on_sdnext_and_absent_when_not_given() -> None:
    req = build_request(DrawOptions(prompt="x", clip_skip=3), CFG, Cat())
    payload = build_payload(req, flavor="sdnext")
    assert payload["clip_skip"] == 3 and "override_settings" not in payload
    plain = build_request(DrawOptions(prompt="x"), CFG, Cat())
    assert plain.clip_skip is None
    assert "clip_skip" not in build_payload(plain, flavor="sdnext") and "override_settings" not in build_payload(plain)


def test_clip_skip_range_and_default() -> None:
    with pytest.raises(RequestError, match=r"clip_skip must be between 1 and 12, or 0 for the webui's own"):
        build_request(DrawOptions(prompt="x", clip_skip=13), CFG, Cat())
    cfg = parse_config({"backends": [{"url": "http://a:1"}], "defaults": {"clip_skip": 2}}, env={})
    assert build_request(DrawOptions(prompt="x"), cfg, Cat()).clip_skip == 2
    assert build_request(DrawOptions(prompt="x", clip_skip=0), cfg, Cat()).clip_skip is None
    info = parse_infotext("a cat\nSteps: 20, Seed: 5, Clip skip: 2, Size: 512x512")
    assert options_from_infotext(info).clip_skip == 2


# ---- aspect: width and height from a ratio ------------------------------------------------------------------

RATIOS = {
    "1:1": 1.0,
    "4:3": 4 / 3,
    "3:4": 3 / 4,
    "3:2": 1.5,
    "2:3": 2 / 3,
    "16:9": 16 / 9,
    "9:16": 9 / 16,
    "21:9": 21 / 9,
}


def _aspect_cfg(defaults: dict | None = None, limits: dict | None = None):
    raw: dict = {"backends": [{"url": "http://127.0.0.1:7860"}]}
    if defaults:
        raw["defaults"] = defaults
    if limits:
        raw["limits"] = limits
    return parse_config(raw, env={})


def test_aspect_choices_are_the_ratios_and_default() -> None:
    from easel.options import option

    assert option("aspect").choices == ("default", *RATIOS)


@pytest.mark.parametrize(
    ("defaults", "limits"),
    [
        (None, None),  # 512x512 budget, 1024x1024 limits
        ({"width": 768, "height": 768}, {"max_pixels": 500_000}),  # the budget is capped by max_pixels
        ({"width": 512, "height": 512}, {"max_width": 600, "max_height": 1024}),  # a narrow limit
        ({"width": 832, "height": 832}, {"max_width": 1024, "max_height": 840, "max_pixels": 700_001}),  # odd ones
        ({"width": 1024, "height": 1024}, {"max_width": 2048, "max_height": 2048, "max_pixels": 1024 * 1024}),
    ],
)
@pytest.mark.parametrize("aspect", list(RATIOS))
def test_every_ratio_fits_the_limits_in_multiples_of_8_near_the_budget(
    aspect: str, defaults: dict | None, limits: dict | None
) -> None:
    cfg = _aspect_cfg(defaults, limits)
    lim, d = cfg.limits, cfg.defaults
    req = build_request(DrawOptions(prompt="x", aspect=aspect), cfg)
    w, h = req.width, req.height
    assert req.aspect == aspect
    assert w % 8 == 0 and h % 8 == 0
    assert 64 <= w <= lim.max_width and 64 <= h <= lim.max_height and w * h <= lim.max_pixels
    assert abs(w / h - RATIOS[aspect]) / RATIOS[aspect] < 0.03  # the shape asked for
    budget = min(d.width * d.height, lim.max_pixels)
    side_capped = w + 8 > lim.max_width or h + 8 > lim.max_height
    if not side_capped:  # the area is the budget's, up to rounding each side to 8
        assert 0.94 * budget <= w * h <= 1.03 * budget


def test_aspect_sizes_for_a_512_budget() -> None:
    sizes = {a: (r.width, r.height) for a in RATIOS for r in [build_request(DrawOptions(prompt="x", aspect=a), CFG)]}
    assert sizes["1:1"] == (512, 512)
    assert sizes["16:9"] == (680, 384) and sizes["9:16"] == (384, 680)
    assert sizes["4:3"] == (592, 440) and sizes["21:9"] == (784, 336)


def test_aspect_rounds_to_64_for_a_backend_that_needs_it() -> None:
    from easel.request import aspect_size

    for aspect, ratio in RATIOS.items():
        w, h = aspect_size(aspect, CFG, multiple=64)
        assert w % 64 == 0 and h % 64 == 0 and w <= 1024 and h <= 1024
        assert abs(w / h - ratio) / ratio < 0.2  # 64-pixel steps are coarse at 512x512


def test_one_side_given_the_other_follows_the_ratio() -> None:
    req = build_request(DrawOptions(prompt="x", aspect="16:9", width=1024), CFG)
    assert (req.width, req.height, req.aspect) == (1024, 576, "16:9")
    req = build_request(DrawOptions(prompt="x", aspect="4:3", height=768), CFG)
    assert (req.width, req.height, req.aspect) == (1024, 768, "4:3")
    with pytest.raises(RequestError, match="multiple of 8"):  # the side given is checked first
        build_request(DrawOptions(prompt="x", aspect="16:9", width=1001), CFG)


def test_both_sides_given_win_and_the_ratio_is_kept_only_if_it_is_theirs() -> None:
    req = build_request(DrawOptions(prompt="x", aspect="16:9", width=512, height=768), CFG)
    assert (req.width, req.height, req.aspect) == (512, 768, None)  # not 16:9: the summary won't claim it
    req = build_request(DrawOptions(prompt="x", aspect="16:9", width=1024, height=576), CFG)
    assert req.aspect == "16:9"


@pytest.mark.parametrize(
    ("opts", "cfg"),
    [
        (DrawOptions(prompt="x", aspect="9:16", width=1024), CFG),  # height 1824 > 1024
        (DrawOptions(prompt="x", aspect="21:9", height=512), CFG),  # width 1192 > 1024
        (DrawOptions(prompt="x", aspect="21:9", width=128), CFG),  # height 56 < 64
        (
            DrawOptions(prompt="x", aspect="21:9"),
            _aspect_cfg({"width": 128, "height": 128}, {"max_width": 128, "max_height": 1024}),
        ),
    ],
)
def test_a_ratio_that_cannot_fit_is_refused_in_one_line(opts: DrawOptions, cfg) -> None:
    with pytest.raises(RequestError) as exc:
        build_request(opts, cfg)
    text = str(exc.value)
    assert "\n" not in text and text.startswith(f"aspect {opts.aspect}") and "doesn't fit" in text


def test_unknown_ratio_is_refused() -> None:
    with pytest.raises(RequestError, match=r"aspect must be one of default, 1:1, .*21:9 \(got '5:4'\)"):
        build_request(DrawOptions(prompt="x", aspect="5:4"), CFG)


def test_default_aspect_from_the_config_and_default_means_the_default_size() -> None:
    cfg = _aspect_cfg({"aspect": "16:9"})
    req = build_request(DrawOptions(prompt="x"), cfg)
    assert (req.width, req.height, req.aspect) == (680, 384, "16:9")
    req = build_request(DrawOptions(prompt="x", aspect="default"), cfg)
    assert (req.width, req.height, req.aspect) == (512, 512, None)
    req = build_request(DrawOptions(prompt="x"), CFG)
    assert (req.width, req.height, req.aspect) == (512, 512, None)
    # img2img: the picture gives the shape unless the user asks for one
    img = build_request(DrawOptions(prompt="x", init_image_size=(640, 640)), cfg)
    assert (img.width, img.height, img.aspect) == (640, 640, None)
    img = build_request(DrawOptions(prompt="x", init_image_size=(640, 640), aspect="9:16"), cfg)
    assert (img.width, img.height, img.aspect) == (384, 680, "9:16")


def test_reroll_keeps_the_size_and_the_ratio_and_old_records_still_load() -> None:
    from easel.request import revalidate

    req = build_request(DrawOptions(prompt="x", aspect="21:9"), CFG)
    again = revalidate(req, CFG, seed=5)
    assert (again.width, again.height, again.aspect) == (784, 336, "21:9")
    # a size the limits have since made impossible for the ratio is still the stored size (both sides given)
    smaller = _aspect_cfg(limits={"max_pixels": 300_000})
    assert (revalidate(req, smaller).width, revalidate(req, smaller).height) == (784, 336)

    record = req.to_record()
    assert record["aspect"] == "21:9"
    old = {k: v for k, v in record.items() if k != "aspect"}  # stored before the upgrade
    loaded = DrawRequest.from_record(old)
    assert loaded.aspect is None and (loaded.width, loaded.height) == (784, 336)
    assert build_payload(loaded)["width"] == 784 and "aspect" not in build_payload(req)
    again = revalidate(loaded, _aspect_cfg({"aspect": "16:9"}))  # a default ratio set since: the size stays
    assert (again.width, again.height, again.aspect) == (784, 336, None)


# ---- LoRAs and face fix ------------------------------------------------------------------------------------------


class LoraCat(Cat):
    """A catalog with LoRAs (add_detail triggers "detailed") and face fix by restoration only."""

    def lora_infos(self) -> list:
        from easel.loras import LoraInfo

        return [LoraInfo("add_detail", "add_detail", "detailed"), LoraInfo("pixel_art_v2", "pixelart", "")]

    def lora_trigger(self, name: str) -> str:
        return "detailed" if name == "add_detail" else ""

    def face_fix_ok(self, mode: str) -> bool:
        return mode in ("on", "codeformer")


def test_loras_become_tags_in_the_payload_with_the_trigger_once() -> None:
    req = build_request(DrawOptions(prompt="a cat", lora="ADD_DETAIL:0.5, pixelart"), CFG, LoraCat())
    assert req.lora == "add_detail:0.5, pixel_art_v2:0.8"  # canonical names, [defaults] lora_weight 0.8
    assert req.prompt == "a cat, detailed"
    payload = build_payload(req)
    assert payload["prompt"] == "a cat, detailed <lora:add_detail:0.5> <lora:pixel_art_v2:0.8>"
    assert validate_payload("txt2img", payload) == []
    again = build_request(DrawOptions(prompt=req.prompt, lora=req.lora), CFG, LoraCat())  # Reroll
    assert again.prompt == "a cat, detailed" and again.lora == req.lora


def test_typed_tags_are_loras_too_and_the_option_wins() -> None:
    opts = DrawOptions(prompt="a detailed cat <lora:add_detail:1.2>, <lora:pixel_art_v2>", lora="add_detail:0.3")
    req = build_request(opts, CFG, LoraCat())
    assert req.prompt == "a detailed cat"  # the trigger is there already
    assert req.lora == "pixel_art_v2:0.8, add_detail:0.3"


def test_lora_weight_default_and_admin_trigger_from_the_config() -> None:
    cfg = parse_config(
        {
            "backends": [{"url": "http://127.0.0.1:7860"}],
            "defaults": {"lora_weight": 0.6},
            "loras": {"Pixel_Art_V2": {"trigger": "pixel art"}, "add_detail": {"trigger": ""}},
        },
        env={},
    )
    req = build_request(DrawOptions(prompt="a cat", lora="add_detail, pixel_art_v2"), cfg, LoraCat())
    assert req.lora == "add_detail:0.6, pixel_art_v2:0.6"
    assert req.prompt == "a cat, pixel art"


@pytest.mark.parametrize(
    ("lora", "needle"),
    [
        ("add_detial", "No image server has the LoRA add_detial; close names: add_detail."),
        ("add_detail:3", "The weight of LoRA add_detail must be between -2 and 2 (got 3)."),
        ("add_detail:x", "No image server has the LoRA add_detail:x; close names: add_detail."),
        ("<a>", "is not a LoRA name"),
    ],
)
def test_bad_loras_are_refused_in_one_line(lora: str, needle: str) -> None:
    with pytest.raises(RequestError) as err:
        build_request(DrawOptions(prompt="a cat", lora=lora), CFG, LoraCat())
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_face_fix_choice_default_and_refusal() -> None:
    assert build_request(DrawOptions(prompt="x"), CFG, LoraCat()).face_fix is None
    assert build_request(DrawOptions(prompt="x", face_fix="on"), CFG, LoraCat()).face_fix == "on"
    with pytest.raises(RequestError, match="No image server here can fix faces with adetailer"):
        build_request(DrawOptions(prompt="x", face_fix="adetailer"), CFG, LoraCat())
    with pytest.raises(RequestError, match="face_fix must be one of off, on, adetailer, codeformer, gfpgan"):
        build_request(DrawOptions(prompt="x", face_fix="maybe"), CFG, LoraCat())
    cfg = parse_config({"backends": [{"url": "http://127.0.0.1:7860"}], "defaults": {"face_fix": "codeformer"}}, env={})
    assert build_request(DrawOptions(prompt="x"), cfg, LoraCat()).face_fix == "codeformer"
    assert build_request(DrawOptions(prompt="x", face_fix="off"), cfg, LoraCat()).face_fix is None


@pytest.mark.parametrize("flavor", ["a1111", "forge"])
def test_face_fix_payload_per_way_and_flavor(flavor: str) -> None:
    req = build_request(DrawOptions(prompt="a face", face_fix="on"), CFG, LoraCat())
    ad = build_payload(replace(req, face_fixer="adetailer:face_yolov8n.pt"), flavor=flavor)
    unit = {"ad_model": "face_yolov8n.pt"}
    assert ad["alwayson_scripts"] == {"ADetailer": {"args": [True, False, unit] if flavor == "forge" else [unit]}}
    assert "restore_faces" not in ad
    restore = build_payload(replace(req, face_fixer="restore:GFPGAN"), flavor=flavor)
    assert restore["restore_faces"] is True
    assert restore["override_settings"]["face_restoration_model"] == "GFPGAN"
    assert "alwayson_scripts" not in restore
    for payload in (ad, restore):
        assert validate_payload("txt2img", payload) == []
    assert "restore_faces" not in build_payload(replace(req, face_fix=None))


def test_draw_this_again_reads_loras_and_face_fix_from_the_infotext() -> None:
    info = parse_infotext(
        "a cat, detailed <lora:add_detail:0.5>\nSteps: 20, Sampler: Euler a, CFG scale: 7.0, Seed: 5, "
        'Size: 512x512, ADetailer model: face_yolov8n.pt, Lora hashes: "add_detail: 7c6bad76eb54"'
    )
    opts = options_from_infotext(info)
    assert opts.face_fix == "adetailer"
    req = build_request(replace(opts, face_fix="on"), CFG, LoraCat())
    assert req.prompt == "a cat, detailed" and req.lora == "add_detail:0.5"
    restored = parse_infotext(
        "a cat\nSteps: 20, Sampler: Euler a, Seed: 5, Face restoration: CodeFormer, Size: 512x512"
    )
    assert options_from_infotext(restored).face_fix == "codeformer"
    plain = parse_infotext("a cat\nSteps: 20, Sampler: Euler a, Seed: 5, Size: 512x512")
    assert options_from_infotext(plain).face_fix == "off"


def test_requests_stored_before_loras_and_face_fix_still_load() -> None:
    old = {"prompt": "a cat", "steps": 20, "sampler": "Euler a", "width": 512, "height": 512}
    req = DrawRequest.from_record(old)
    assert (req.lora, req.face_fix, req.loras) == ("", None, ())
    assert "restore_faces" not in build_payload(req) and "<lora" not in build_payload(req)["prompt"]
    new = build_request(DrawOptions(prompt="a cat", lora="add_detail:0.5", face_fix="on"), CFG, LoraCat())
    back = DrawRequest.from_record(new.to_record())
    assert back == new and back.loras[0].name == "add_detail"
