"""Image work that never runs on the event loop: checking and re-encoding init images.

Pillow decoding is CPU work; it runs in a worker thread (``asyncio.to_thread``) so the loop keeps
answering interactions within Discord's 3 seconds. Result images are never decoded: the PNG bytes the
webui returned are posted as they are, so their ``parameters`` chunk survives byte for byte.
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from easel.backends.webui import image_kind
from easel.errors import RequestError
from easel.i18n import _, format_number

log = logging.getLogger(__name__)

ACCEPTED_FORMATS = {"PNG", "JPEG", "WEBP", "GIF", "BMP"}


_ORIENTATION = 0x0112  # EXIF tag; 5-8 mean the picture is stored turned by 90 degrees


def cover_size(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int] | None:
    """The smallest size with ``size``'s aspect ratio that still covers ``box``, or None when ``size`` is not
    larger than that already (an image is never scaled up). Covering keeps every pixel webui's resize modes can
    use: "just resize" and "crop and resize" scale to cover the box, "resize and fill" to fit inside it."""
    w, h = size
    bw, bh = max(1, box[0]), max(1, box[1])
    scale = max(bw / w, bh / h)
    if scale >= 1.0:
        return None
    new = (min(w, max(bw, math.ceil(w * scale - 1e-6))), min(h, max(bh, math.ceil(h * scale - 1e-6))))
    return None if new == (w, h) else new


@dataclass(frozen=True)
class PictureTexts:
    """The one-line refusals of :func:`open_picture`, each built when it is raised (so in the language of the moment):
    ``wrong_format(format)`` (the format's name, or "an unknown format"), ``too_many_pixels(w, h, limit)`` (the
    limit already formatted for the language), ``too_large(limit)`` (a header Pillow itself calls a decompression
    bomb), ``unreadable()`` (not an image at all), ``damaged()`` (an image that breaks off or is corrupt)."""

    wrong_format: Callable[[str], str]
    too_many_pixels: Callable[[int, int, str], str]
    too_large: Callable[[str], str]
    unreadable: Callable[[], str]
    damaged: Callable[[], str]


INIT_IMAGE_TEXTS = PictureTexts(
    wrong_format=lambda fmt: _("The init image is {format}; use PNG, JPEG or WebP.").format(format=fmt),
    too_many_pixels=lambda w, h, limit: _(
        "The init image is {w}x{h}; the limit is {max_pixels} pixels. Scale it down first."
    ).format(w=w, h=h, max_pixels=limit),
    too_large=lambda limit: _("The init image is too large; the limit is {max_pixels} pixels.").format(
        max_pixels=limit
    ),
    unreadable=lambda: _("The init image could not be read as an image (PNG, JPEG or WebP)."),
    damaged=lambda: _("The init image is damaged or truncated."),
)


@contextmanager
def open_picture(data: bytes, max_pixels: int, texts: PictureTexts) -> Iterator[ImageFile.ImageFile]:
    """An uploaded picture opened for decoding, once its header says it is an accepted format
    (:data:`ACCEPTED_FORMATS`) of at most ``max_pixels`` pixels: nothing is decoded before that, so a decompression
    bomb costs nothing (Pillow's own bomb warning counts as an error here).

    Whatever goes wrong, in the checks or in the caller's block (a truncated or corrupt picture shows when it is
    decoded), comes out as a :class:`RequestError` with one of ``texts``; a RequestError of the block passes as is.
    CPU work: call it in a worker thread."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                fmt = probe.format
                w, h = probe.size
                if fmt not in ACCEPTED_FORMATS:
                    raise RequestError(texts.wrong_format(fmt or _("an unknown format")))
                if w * h > max_pixels:
                    raise RequestError(texts.too_many_pixels(w, h, format_number(max_pixels)))
                yield probe
    except RequestError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise RequestError(texts.too_large(format_number(max_pixels))) from None
    except UnidentifiedImageError:
        raise RequestError(texts.unreadable()) from None
    except (OSError, ValueError, SyntaxError, EOFError):
        raise RequestError(texts.damaged()) from None


def flatten(img: Image.Image) -> Image.Image:
    """A decoded picture upright (its EXIF rotation applied) in RGB, or RGBA when it has transparency."""
    img = ImageOps.exif_transpose(img)
    return img.convert("RGBA" if img.mode in ("RGBA", "LA", "P", "PA") else "RGB")


def _check_and_reencode(data: bytes, max_pixels: int, fit_to: tuple[int, int] | None) -> tuple[bytes, tuple[int, int]]:
    with open_picture(data, max_pixels, INIT_IMAGE_TEXTS) as probe:
        w, h = probe.size
        turned = probe.getexif().get(_ORIENTATION) in (5, 6, 7, 8)
        shown = (h, w) if turned else (w, h)  # the size as viewers show it
        target = cover_size(shown, fit_to) if fit_to else None
        probe.seek(0)  # the first frame of an animation
        if target is not None and probe.format == "JPEG":
            # Decode at 1/2, 1/4 or 1/8 scale straight from the DCT (never below the target).
            probe.draft(probe.mode, (target[1], target[0]) if turned else target)
        probe.load()
        img = flatten(probe)
        if target is not None and img.size != target:
            img = img.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=1)
    return out.getvalue(), shown


async def prepare_init_image(
    data: bytes, *, max_bytes: int, max_pixels: int, fit_to: tuple[int, int] | None = None
) -> tuple[bytes, tuple[int, int]]:
    """Check an uploaded image and re-encode it as a clean PNG (no metadata, no trailing data, EXIF rotation
    applied, first frame of an animation). Returns ``(png, (width, height))`` where the size is the upload's own
    (as shown, i.e. after the EXIF rotation), whatever scaling happened.

    ``fit_to=(w, h)``: scale it down to the smallest size that still covers ``w`` x ``h`` (see ``cover_size``);
    never up. Pass the most the image can be drawn at (the request's size, or the configured maximum width and
    height when the request's size is not known yet): a 4096x4096 photo then never becomes a 45 MiB PNG.

    Raises RequestError with a message for the user. Pixel count is checked from the header before
    anything is decoded, so a decompression bomb costs nothing. Runs in a worker thread.
    """
    if len(data) > max_bytes:
        raise RequestError(
            _("The init image is {size} MiB; the limit is {limit} MiB.").format(
                size=format_number(len(data) / 2**20, 1), limit=format_number(max_bytes / 2**20, 0)
            )
        )
    if not data:
        raise RequestError(_("The init image is empty."))
    return await asyncio.to_thread(_check_and_reencode, data, max_pixels, fit_to)


def _fit_init(png: bytes, width: int, height: int) -> bytes:
    try:
        with Image.open(io.BytesIO(png)) as img:
            target = cover_size(img.size, (width, height))
            if target is None:
                return png
            img.load()
            small = img.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        raise RequestError(_("The init image is damaged or truncated.")) from None
    out = io.BytesIO()
    small.save(out, format="PNG", compress_level=1)
    return out.getvalue()


async def fit_init_image(png: bytes, width: int, height: int) -> bytes:
    """A checked init image (``prepare_init_image``'s PNG) scaled down to cover ``width`` x ``height``, the
    request's size: webui draws at that size, so the extra pixels would only be held in memory and sent.
    Returns ``png`` itself when it is not larger. Runs in a worker thread."""
    return await asyncio.to_thread(_fit_init, png, width, height)


# ---- fitting results under Discord's upload limit -------------------------------------------------------------

_EXIF_USER_COMMENT = 0x9286
_EXIF_IFD = 0x8769


def _exif_with_infotext(infotext: str) -> bytes:
    """EXIF holding the infotext as UserComment, the way the webui itself writes it for WebP/JPEG."""
    exif = Image.Exif()
    exif.get_ifd(_EXIF_IFD)[_EXIF_USER_COMMENT] = b"UNICODE\0" + infotext.encode("utf-16-be")
    return exif.tobytes()


def _reencode(data: bytes, infotext: str, budget: int) -> tuple[bytes, str]:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        exif = _exif_with_infotext(infotext) if infotext else b""
        out = io.BytesIO()
        img.save(out, format="WEBP", lossless=True, method=4, exif=exif)
        if out.tell() <= budget:
            return out.getvalue(), "webp"
        for quality in (92, 85, 75, 60):
            out = io.BytesIO()
            img.convert("RGB").save(out, format="WEBP", quality=quality, method=4, exif=exif)
            if out.tell() <= budget:
                return out.getvalue(), "webp"
        # Still too large (a huge upscale): scale down until it fits.
        scaled = img.convert("RGB")
        while out.tell() > budget and min(scaled.size) > 256:
            scaled = scaled.resize((scaled.width * 3 // 4, scaled.height * 3 // 4), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            scaled.save(out, format="WEBP", quality=85, method=4, exif=exif)
        return out.getvalue(), "webp"


def _extension(data: bytes) -> str:
    kind = image_kind(data)
    return "jpg" if kind == "jpeg" else kind or "png"


def _fit_one(data: bytes, info: str, budget: int) -> tuple[bytes, str]:
    if len(data) <= budget:
        return data, _extension(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return _reencode(data, info, budget)
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        reason = f"{type(exc).__name__}: {exc}"
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        reason = f"damaged: {exc}"
    # Not decodable (or absurdly large): keep the bytes as they are, nothing is lost; the upload may then be
    # refused as too large, which the caller reports.
    log.warning("an image of %d bytes cannot be re-encoded to fit %d bytes (%s); kept as is", len(data), budget, reason)
    return data, _extension(data)


def _fit(images: list[tuple[bytes, str]], per_file_budget: int) -> list[tuple[bytes, str]]:
    return [_fit_one(data, info, per_file_budget) for data, info in images]


async def fit_for_upload(images: list[tuple[bytes, str]], limit: int) -> list[tuple[bytes, str]]:
    """Make every image fit in one upload of ``limit`` bytes: images that fit are kept byte for byte; larger ones
    become lossless WebP, then high-quality lossy WebP, keeping the infotext in EXIF UserComment. Returns
    ``(bytes, extension)`` (the extension from the bytes' signature: "png", "jpg" or "webp"); the caller groups
    them into messages. An image that cannot be decoded is returned unchanged. Runs in a worker thread only when
    needed."""
    if all(len(data) <= limit for data, _ in images):
        return [(data, _extension(data)) for data, _ in images]
    return await asyncio.to_thread(_fit, images, limit)
