"""An A1111-format infotext for a Horde result, and the PNG that carries it.

The Horde sends a WebP without generation parameters. Easel converts it to PNG (off the event loop) with a
``parameters`` text chunk in the webui's format, so Image info, Reroll and Draw this again treat it like a local
result. The parameters name the A1111 sampler and scheduler (not the Horde's ``k_*`` names): a redraw may run on
a local webui. ``Horde worker`` says who drew it.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from typing import Any

from PIL import Image, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

from easel.backends.horde.translate import KARRAS, a1111_sampler
from easel.infotext import format_infotext

__all__ = [
    "HORDE_WORKER",
    "UnreadableResult",
    "horde_infotext",
    "png_to_webp",
    "webp_to_png",
    "webp_to_png_async",
]

HORDE_WORKER = "Horde worker"
# The largest picture accepted from the Horde, in pixels (its own maximum is 3072x3072): a decompression bomb
# beyond that is refused before Pillow decodes it.
MAX_PIXELS = 3072 * 3072


class UnreadableResult(ValueError):
    """The downloaded file is not a readable image."""


def horde_infotext(
    prompt: str,
    negative_prompt: str,
    *,
    params: dict[str, Any],
    seed: str,
    model: str | None,
    worker: str | None,
    size: tuple[int, int],
) -> str:
    """The infotext of one Horde picture. ``params``: the ``params`` Easel sent; ``seed``, ``model`` and
    ``worker``: what the Horde says of this picture; ``size``: the picture's real size (a downgrade may have
    shrunk it)."""
    try:
        seed_value: Any = int(seed)
    except ValueError:
        seed_value = seed
    values: dict[str, Any] = {
        "Steps": params.get("steps"),
        "Sampler": a1111_sampler(str(params.get("sampler_name", "k_euler_a"))),
        "Schedule type": KARRAS if params.get("karras") else None,
        "CFG scale": params.get("cfg_scale"),
        "Seed": seed_value,
        "Size": f"{size[0]}x{size[1]}",
        "Model": model,
        "Denoising strength": params.get("denoising_strength"),
        "Clip skip": params.get("clip_skip"),
        HORDE_WORKER: worker,
    }
    loras = params.get("loras") or []
    if loras:
        tags = " ".join(f"<lora:{lo['name']}:{lo.get('model', 1)}>" for lo in loras)
        prompt = f"{prompt} {tags}"
    return format_infotext(prompt, negative_prompt, values)


def webp_to_png(data: bytes, infotext: Callable[[tuple[int, int]], str]) -> tuple[bytes, str]:
    """The picture as a PNG with ``infotext(size)`` in its ``parameters`` chunk, and that infotext. CPU work: call
    it in a thread (``webp_to_png_async``). Raises UnreadableResult for a file that isn't a readable image."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_PIXELS:
                raise UnreadableResult(f"{img.width}x{img.height} is larger than any Horde result")
            img.load()
            rgb = img.convert("RGBA" if img.mode in ("RGBA", "LA", "P") else "RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise UnreadableResult(f"not a readable image: {exc}") from None
    text = infotext(rgb.size)
    info = PngInfo()
    info.add_text("parameters", text)
    out = io.BytesIO()
    rgb.save(out, "PNG", pnginfo=info, compress_level=4)
    return out.getvalue(), text


async def webp_to_png_async(data: bytes, infotext: Callable[[tuple[int, int]], str]) -> tuple[bytes, str]:
    return await asyncio.to_thread(webp_to_png, data, infotext)


def png_to_webp(data: bytes) -> bytes:
    """An init image (PNG) as the lossless WebP the Horde's ``source_image`` wants. CPU work: in a thread."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            out = io.BytesIO()
            img.convert("RGBA" if img.mode in ("RGBA", "LA", "P") else "RGB").save(out, "WEBP", lossless=True)
    except (UnidentifiedImageError, OSError) as exc:
        raise UnreadableResult(f"not a readable image: {exc}") from None
    return out.getvalue()
