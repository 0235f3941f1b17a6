"""Zoom out and pan: pad a picture, mask the new area, and let img2img inpainting fill it.

- Zoom out by ``f``: the canvas is ``f`` times the picture on each side, the picture in its middle.
- Pan left/right/up/down: the canvas grows by half the picture's size on that side.

The canvas is then scaled (down only) into the size limits, each side a multiple of 8; the picture keeps its
aspect ratio inside it. The new area is filled with a blurred stretch of the picture (``inpainting_fill`` 1 starts
from those colours) and is white in the mask; the picture's own area is black (kept). Pillow work runs in a worker
thread.
"""

from __future__ import annotations

import asyncio
import io
import math
from dataclasses import dataclass, replace
from enum import StrEnum

from PIL import Image, ImageFilter, UnidentifiedImageError

from easel.config import Limits
from easel.errors import RequestError
from easel.i18n import _
from easel.request import DrawRequest

__all__ = [
    "MAX_ZOOM",
    "MIN_ZOOM",
    "Canvas",
    "Pan",
    "canvas_for",
    "fit_canvas",
    "outpaint_inputs",
    "pad_and_mask",
    "pan_op",
    "parse_op",
    "zoom_op",
]

MIN_ZOOM = 1.1
MAX_ZOOM = 4.0


class Pan(StrEnum):
    LEFT = "left"
    RIGHT = "right"
    UP = "up"
    DOWN = "down"


def zoom_op(factor: float) -> str:
    if not MIN_ZOOM <= factor <= MAX_ZOOM or not math.isfinite(factor):
        raise RequestError(
            _("The zoom factor must be between {low:g} and {high:g}.").format(low=MIN_ZOOM, high=MAX_ZOOM)
        )
    return f"zoom:{round(factor, 2):g}"


def pan_op(direction: Pan | str) -> str:
    return f"pan:{Pan(direction)}"


def parse_op(op: str) -> float | Pan:
    """``"zoom:1.5"`` -> 1.5, ``"pan:left"`` -> ``Pan.LEFT``; ValueError for anything else."""
    kind, _sep, value = op.partition(":")
    if kind == "zoom":
        factor = float(value)
        if not MIN_ZOOM <= factor <= MAX_ZOOM:
            raise ValueError(op)
        return factor
    if kind == "pan":
        return Pan(value)
    raise ValueError(op)


@dataclass(frozen=True)
class Canvas:
    """The padded canvas in the picture's own pixels, and where the picture sits on it (left, top)."""

    size: tuple[int, int]
    offset: tuple[int, int]


def canvas_for(size: tuple[int, int], op: str) -> Canvas:
    w, h = size
    how = parse_op(op)
    if isinstance(how, Pan):
        if how in (Pan.LEFT, Pan.RIGHT):
            grow = max(1, w // 2)
            return Canvas((w + grow, h), (grow if how is Pan.LEFT else 0, 0))
        grow = max(1, h // 2)
        return Canvas((w, h + grow), (0, grow if how is Pan.UP else 0))
    cw, ch = max(w + 2, round(w * how)), max(h + 2, round(h * how))
    return Canvas((cw, ch), ((cw - w) // 2, (ch - h) // 2))


def fit_canvas(canvas: tuple[int, int], limits: Limits, multiple: int = 8) -> tuple[int, int]:
    """The size to draw the canvas at: its shape, scaled down (never up) into max_width / max_height /
    max_pixels, each side a multiple of ``multiple``. Raises RequestError when it can't fit (a very thin shape)."""
    cw, ch = canvas
    scale = min(1.0, limits.max_width / cw, limits.max_height / ch, math.sqrt(limits.max_pixels / (cw * ch)))
    w = int(cw * scale) // multiple * multiple
    h = int(ch * scale) // multiple * multiple
    if w < 64 or h < 64:
        raise RequestError(_("That picture can't be extended within this server's size limits."))
    return w, h


def _pad_and_mask(png: bytes, op: str, width: int, height: int) -> tuple[bytes, bytes]:
    try:
        with Image.open(io.BytesIO(png)) as src:
            src.load()
            picture = src.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        raise RequestError(_("The picture to extend is damaged.")) from None
    canvas = canvas_for(picture.size, op)
    sx, sy = width / canvas.size[0], height / canvas.size[1]
    left, top = round(canvas.offset[0] * sx), round(canvas.offset[1] * sy)
    inner = (
        max(1, min(width - left, round(picture.width * sx))),
        max(1, min(height - top, round(picture.height * sy))),
    )
    if inner != picture.size:
        picture = picture.resize(inner, Image.Resampling.LANCZOS)
    # The new area starts from the picture's colours, stretched and blurred (no hard edge for the sampler to keep).
    background = picture.resize((width, height), Image.Resampling.BILINEAR)
    background = background.filter(ImageFilter.GaussianBlur(max(8, max(width, height) // 16)))
    background.paste(picture, (left, top))
    mask = Image.new("L", (width, height), 255)
    mask.paste(0, (left, top, left + inner[0], top + inner[1]))
    out_canvas, out_mask = io.BytesIO(), io.BytesIO()
    background.save(out_canvas, format="PNG", compress_level=1)
    mask.save(out_mask, format="PNG", compress_level=1)
    return out_canvas.getvalue(), out_mask.getvalue()


async def pad_and_mask(png: bytes, op: str, width: int, height: int) -> tuple[bytes, bytes]:
    """The canvas (``width`` x ``height`` PNG, the picture placed as ``op`` says) and its mask (white: the new area
    to fill, black: the picture). In a worker thread."""
    return await asyncio.to_thread(_pad_and_mask, png, op, width, height)


async def outpaint_inputs(request: DrawRequest) -> DrawRequest:
    """A zoom-out or pan job's request as it is sent: the stored picture replaced by the padded canvas, with the
    mask (done when the job runs, so only the picture is stored)."""
    if request.init_image is None:
        raise RequestError(_("The picture to extend is no longer kept."))
    canvas, mask = await pad_and_mask(request.init_image, request.outpaint, request.width, request.height)
    return replace(request, init_image=canvas, mask=mask)
