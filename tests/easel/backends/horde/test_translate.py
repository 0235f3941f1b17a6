"""DrawRequest -> the Horde's /v2/generate/async body: every body is checked against the Horde's OpenAPI schema."""

from __future__ import annotations

import pytest

from easel.backends.horde.translate import (
    HordeOptions,
    HordeUnsupported,
    horde_side,
    nsfw_flags,
    sampler_name,
    split_loras,
    to_horde,
)
from easel.config import NsfwCheck
from easel.request import DrawRequest
from tests.fakes.horde_fake import validate_horde

OPTS = HordeOptions()


def body(**changes: object) -> dict:
    req = DrawRequest(prompt="a red fox", **changes)  # type: ignore[arg-type]
    out = to_horde(req, OPTS, model=None, source_webp=b"RIFF0000WEBP" if req.img2img else None)
    assert validate_horde("GenerationInputStable", out) == []
    return out


def test_negative_prompt_goes_after_the_separator() -> None:
    assert body(negative_prompt="blurry, text")["prompt"] == "a red fox ### blurry, text"
    assert body()["prompt"] == "a red fox"


@pytest.mark.parametrize(("side", "expected"), [(512, 512), (680, 704), (384, 384), (100, 128), (31, 64), (5000, 3072)])
def test_sides_become_multiples_of_64(side: int, expected: int) -> None:
    assert horde_side(side) == expected
    p = body(width=side if side <= 3072 else 3072, height=512)["params"]
    assert p["width"] % 64 == 0 and p["height"] == 512


def test_numbers_as_the_horde_wants_them() -> None:
    p = body(cfg_scale=7.123456, seed=1234, steps=20, count=3)["params"]
    assert p["cfg_scale"] == 7.12
    assert p["seed"] == "1234"  # a string
    assert p["steps"] == 20 and p["n"] == 3
    assert "seed" not in body(seed=-1)["params"]  # random: the Horde picks


@pytest.mark.parametrize(
    ("a1111", "horde"),
    [
        ("Euler a", "k_euler_a"),
        ("Euler", "k_euler"),
        ("DPM++ 2M", "k_dpmpp_2m"),
        ("DPM++ SDE", "k_dpmpp_sde"),
        ("DDIM", "DDIM"),
        ("LCM", "lcm"),
        ("k_heun", "k_heun"),
    ],
)
def test_sampler_names(a1111: str, horde: str) -> None:
    assert sampler_name(a1111) == horde


def test_karras_scheduler_is_the_karras_flag() -> None:
    assert body(scheduler="Karras")["params"]["karras"] is True
    assert body(scheduler=None)["params"]["karras"] is False
    assert body(scheduler="Automatic")["params"]["karras"] is False


def test_nsfw_flags_follow_the_requests_image_check_mode() -> None:
    # off = an age-restricted channel or a server without the image check: NSFW workers, uncensored
    assert nsfw_flags(DrawRequest(prompt="x", nsfw_check=NsfwCheck.OFF)) == (True, False)
    for mode in (NsfwCheck.SPOILER, NsfwCheck.BLUR, NsfwCheck.REFUSE):
        assert nsfw_flags(DrawRequest(prompt="x", nsfw_check=mode)) == (False, True)
    b = body(nsfw_check=NsfwCheck.REFUSE)
    assert (b["nsfw"], b["censor_nsfw"]) == (False, True)  # both always sent


def test_loras_by_name_out_of_the_prompt() -> None:
    text, loras = split_loras("a fox <lora:pixel_art:0.7> in snow <lora:Detail>")
    assert text == "a fox in snow"
    assert loras == [{"name": "pixel_art", "model": 0.7, "clip": 0.7}, {"name": "Detail", "model": 1.0, "clip": 1.0}]
    b = to_horde(DrawRequest(prompt="a fox <lora:pixel_art:0.7>"), OPTS, model=None)
    assert b["prompt"] == "a fox" and b["params"]["loras"][0]["name"] == "pixel_art"
    assert validate_horde("GenerationInputStable", b) == []


def test_hires_fix_and_img2img() -> None:
    assert body(hires_fix=True)["params"]["hires_fix"] is True
    b = body(img2img=True, strength=0.456)
    assert b["source_processing"] == "img2img" and b["source_image"]
    assert b["params"]["denoising_strength"] == 0.46
    assert "hires_fix" not in b["params"]


def test_models_and_worker_choices() -> None:
    opts = HordeOptions(models=("stable_diffusion", "Deliberate"), trusted_workers=True, allow_downgrade=True)
    b = to_horde(DrawRequest(prompt="x"), opts, model=None)
    assert b["models"] == ["stable_diffusion", "Deliberate"]
    assert b["trusted_workers"] is True and b["allow_downgrade"] is True
    assert to_horde(DrawRequest(prompt="x"), opts, model="Deliberate")["models"] == ["Deliberate"]


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"upscale": True}, "Upscaling"),
        ({"style": "Cinematic"}, "Styles"),
        ({"subseed": 5, "subseed_strength": 0.3}, "Variations"),
        ({"sampler": "UniPC"}, "no sampler 'UniPC'"),
        ({"scheduler": "Exponential"}, "no scheduler 'Exponential'"),
        ({"count": 21}, "at most 20"),
        ({"prompt": "".join(f"<lora:l{i}> " for i in range(6)) + "fox"}, "at most 5 LoRAs"),
        ({"img2img": True}, "init image"),
    ],
)
def test_what_the_horde_cant_do_is_refused_with_a_reason(changes: dict, words: str) -> None:
    req = DrawRequest(**{"prompt": "x", **changes})  # type: ignore[arg-type]
    with pytest.raises(HordeUnsupported) as info:
        to_horde(req, OPTS, model=None)
    assert words in info.value.message
    assert info.value.retryable is False
