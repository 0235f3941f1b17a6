"""Zoom out and pan geometry: the canvas, fitting it into the limits, and the padded picture with its mask."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from easel.config import Limits
from easel.errors import RequestError
from easel.request import DrawRequest
from easel.tools.outpaint import Pan, canvas_for, fit_canvas, outpaint_inputs, pad_and_mask, pan_op, parse_op, zoom_op


def picture(width: int, height: int, colour: tuple[int, int, int] = (10, 200, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


def test_ops_round_trip_and_bad_ones_are_refused() -> None:
    assert parse_op(zoom_op(1.5)) == 1.5 and zoom_op(2.0) == "zoom:2"
    assert parse_op(pan_op("left")) is Pan.LEFT
    with pytest.raises(RequestError, match=r"between 1\.1 and 4"):
        zoom_op(5.0)
    with pytest.raises(RequestError):
        zoom_op(float("nan"))
    for bad in ("zoom:9", "pan:sideways", "spin:1", "zoom:x"):
        with pytest.raises(ValueError):
            parse_op(bad)


@pytest.mark.parametrize(
    ("op", "size", "offset"),
    [
        ("zoom:2", (1024, 768), (256, 192)),
        ("zoom:1.5", (768, 576), (128, 96)),
        ("pan:left", (768, 384), (256, 0)),
        ("pan:right", (768, 384), (0, 0)),
        ("pan:up", (512, 576), (0, 192)),
        ("pan:down", (512, 576), (0, 0)),
    ],
)
def test_canvas(op: str, size: tuple[int, int], offset: tuple[int, int]) -> None:
    canvas = canvas_for((512, 384), op)
    assert (canvas.size, canvas.offset) == (size, offset)


def test_fit_canvas_scales_down_only_within_every_limit() -> None:
    limits = Limits(max_width=1024, max_height=1024, max_pixels=1024 * 1024)
    assert fit_canvas((768, 768), limits) == (768, 768)
    assert fit_canvas((1536, 1536), limits) == (1024, 1024)
    w, h = fit_canvas((1536, 768), Limits(max_width=2048, max_height=2048, max_pixels=768 * 768))
    assert w * h <= 768 * 768 and w % 8 == 0 and h % 8 == 0 and abs(w / h - 2) < 0.05
    with pytest.raises(RequestError, match="size limits"):
        fit_canvas((100_000, 60), limits)


async def test_pad_and_mask_keeps_the_picture_and_masks_only_the_new_area() -> None:
    canvas_png, mask_png = await pad_and_mask(picture(512, 384), "pan:left", 768, 384)
    with Image.open(io.BytesIO(canvas_png)) as c, Image.open(io.BytesIO(mask_png)) as m:
        canvas, mask = c.convert("RGB"), m.convert("L")
    assert canvas.size == mask.size == (768, 384)
    assert canvas.crop((256, 0, 768, 384)).getcolors() == [(512 * 384, (10, 200, 30))]
    assert mask.crop((256, 0, 768, 384)).getcolors() == [(512 * 384, 0)]
    assert mask.crop((0, 0, 256, 384)).getcolors() == [(256 * 384, 255)]


async def test_a_scaled_canvas_keeps_the_proportions() -> None:
    canvas_png, mask_png = await pad_and_mask(picture(768, 768), "zoom:2", 1024, 1024)
    with Image.open(io.BytesIO(mask_png)) as m:
        box = Image.eval(m.convert("L"), lambda v: 255 - v).getbbox()
    assert box == (256, 256, 768, 768)  # the 768 px picture drawn at 512 px, in the middle
    with Image.open(io.BytesIO(canvas_png)) as c:
        assert c.size == (1024, 1024)


async def test_outpaint_inputs_replaces_the_picture_with_canvas_and_mask() -> None:
    req = DrawRequest(
        prompt="x", img2img=True, outpaint="zoom:1.5", width=768, height=768, init_image=picture(512, 512)
    )
    sent = await outpaint_inputs(req)
    assert sent.mask is not None and sent.init_image != req.init_image
    with Image.open(io.BytesIO(sent.init_image or b"")) as im:
        assert im.size == (768, 768)
    with pytest.raises(RequestError):
        await outpaint_inputs(DrawRequest(prompt="x", outpaint="zoom:2"))
