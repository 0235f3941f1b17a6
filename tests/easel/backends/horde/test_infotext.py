"""The infotext Easel writes into a Horde result reads back as an A1111 infotext (Image info, Draw this again)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from easel.backends.horde.infotext import (
    UnreadableResult,
    horde_infotext,
    png_to_webp,
    webp_to_png,
    webp_to_png_async,
)
from easel.infotext import parse_infotext, png_parameters
from easel.request import options_from_infotext


def webp(w: int = 128, h: int = 64) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (200, 10, 10)).save(buf, "WEBP")
    return buf.getvalue()


PARAMS = {"sampler_name": "k_dpmpp_2m", "karras": True, "cfg_scale": 6.5, "steps": 22, "width": 128, "height": 64}


def text(size: tuple[int, int]) -> str:
    return horde_infotext(
        "a red fox", "blurry", params=PARAMS, seed="4242", model="AlbedoBase XL (SDXL)", worker="w1", size=size
    )


def test_the_infotext_has_every_parameter_in_a1111_names() -> None:
    info = parse_infotext(text((128, 64)))
    assert info.prompt == "a red fox" and info.negative_prompt == "blurry"
    assert info.steps == 22 and info.sampler == "DPM++ 2M" and info.scheduler == "Karras"
    assert info.cfg_scale == 6.5 and info.seed == 4242 and info.size == (128, 64)
    assert info.model == "AlbedoBase XL (SDXL)" and info.get("Horde worker") == "w1"


def test_draw_this_again_rebuilds_the_options() -> None:
    opts = options_from_infotext(parse_infotext(text((128, 64))))
    assert (opts.prompt, opts.negative_prompt, opts.steps, opts.seed) == ("a red fox", "blurry", 22, 4242)
    assert (opts.sampler, opts.scheduler, opts.width, opts.height) == ("DPM++ 2M", "Karras", 128, 64)


async def test_the_webp_becomes_a_png_carrying_the_infotext() -> None:
    png, info = await webp_to_png_async(webp(), text)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert png_parameters(png) == info
    assert "Size: 128x64" in info  # the picture's real size (a downgrade may have shrunk it)


def test_garbage_is_unreadable() -> None:
    with pytest.raises(UnreadableResult):
        webp_to_png(b"RIFF\0\0\0\0WEBPnot really", text)


def test_init_images_go_as_webp() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buf, "PNG")
    out = png_to_webp(buf.getvalue())
    assert out[:4] == b"RIFF" and out[8:12] == b"WEBP"
