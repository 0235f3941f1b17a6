"""Pictures the tools work on: any image someone points Easel at (an attachment of a message or of /upscale,
/describe), checked and re-encoded before use, and the PNG text an upscale carries over.

Everything here decodes or encodes pixels, so the public functions run in a worker thread.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, field

from PIL import Image, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

from easel.errors import RequestError
from easel.i18n import _, format_number
from easel.images import PictureTexts, flatten, open_picture
from easel.infotext import png_parameters

__all__ = ["ToolImage", "image_size", "load_tool_image", "with_parameters"]

_USER_COMMENT = 0x9286
_EXIF_IFD = 0x8769


@dataclass(frozen=True)
class ToolImage:
    """A checked picture: a clean PNG (first frame, EXIF rotation applied, no other metadata than the
    ``parameters`` text it came with), its size, and that text ("" when it had none)."""

    png: bytes = field(repr=False)
    size: tuple[int, int]
    infotext: str


def _exif_comment(img: Image.Image) -> str:
    """The infotext a webui writes into a JPEG's or WebP's EXIF UserComment."""
    try:
        raw = img.getexif().get_ifd(_EXIF_IFD).get(_USER_COMMENT)
    except Exception:
        return ""
    if isinstance(raw, bytes):
        if raw.startswith(b"UNICODE\0"):
            body = raw[8:]
            for codec in ("utf-16-be", "utf-16-le"):
                try:
                    text = body.decode(codec)
                except UnicodeDecodeError:
                    continue
                if text.isprintable() or "\n" in text:
                    return text.strip("\0")
            return ""
        if raw.startswith(b"ASCII\0\0\0"):
            return raw[8:].decode("ascii", "replace").strip("\0")
        return ""
    return raw if isinstance(raw, str) else ""


TOOL_PICTURE_TEXTS = PictureTexts(
    wrong_format=lambda fmt: _("That file is {kind}, not a picture Easel can use (PNG, JPEG or WebP).").format(
        kind=fmt
    ),
    too_many_pixels=lambda w, h, limit: _("That picture is {w}x{h}; the limit is {limit} pixels.").format(
        w=w, h=h, limit=limit
    ),
    too_large=lambda limit: _("That picture is too large; the limit is {limit} pixels.").format(limit=limit),
    unreadable=lambda: _("That file could not be read as a picture (PNG, JPEG or WebP)."),
    damaged=lambda: _("That picture is damaged or truncated."),
)


def _load(data: bytes, max_pixels: int) -> ToolImage:
    infotext = png_parameters(data) or ""
    with open_picture(data, max_pixels, TOOL_PICTURE_TEXTS) as probe:
        if not infotext and probe.format in ("JPEG", "WEBP"):
            infotext = _exif_comment(probe)
        probe.seek(0)
        probe.load()
        img = flatten(probe)
    return ToolImage(_encode(img, infotext), img.size, infotext)


def _encode(img: Image.Image, infotext: str) -> bytes:
    meta = None
    if infotext:
        meta = PngInfo()
        meta.add_itxt("parameters", infotext)
    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=1, pnginfo=meta)
    return out.getvalue()


async def load_tool_image(data: bytes, *, max_bytes: int, max_pixels: int) -> ToolImage:
    """Check a downloaded picture (size in bytes, then the pixel count from its header before anything is decoded,
    the format) and re-encode it as a clean PNG keeping its infotext. Raises RequestError (one line)."""
    if not data:
        raise RequestError(_("That file is empty."))
    if len(data) > max_bytes:
        raise RequestError(
            _("That picture is {size} MiB; the limit is {limit} MiB.").format(
                size=format_number(len(data) / 2**20, 1), limit=format_number(max_bytes / 2**20, 0)
            )
        )
    return await asyncio.to_thread(_load, data, max_pixels)


def _with_parameters(png: bytes, infotext: str) -> bytes:
    if not infotext or png_parameters(png):
        return png
    try:
        with Image.open(io.BytesIO(png)) as img:
            img.load()
            if img.format != "PNG":
                return png
            return _encode(img, infotext)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        return png


async def with_parameters(png: bytes, infotext: str) -> bytes:
    """``png`` with ``infotext`` as its ``parameters`` text when it has none (an upscaler that dropped it), so the
    upscaled picture still says how the original was made. Anything that isn't a readable PNG is kept as is."""
    if not infotext or png_parameters(png):
        return png
    return await asyncio.to_thread(_with_parameters, png, infotext)


def _size(data: bytes) -> tuple[int, int]:
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        raise RequestError(_("That picture is damaged or truncated.")) from None


async def image_size(data: bytes) -> tuple[int, int]:
    """A stored picture's (width, height), from its header (in a worker thread)."""
    return await asyncio.to_thread(_size, data)
