"""Image work that never runs on the event loop: checking and re-encoding init images.

Pillow decoding is CPU work; it runs in a worker thread (``asyncio.to_thread``) so the loop keeps
answering interactions within Discord's 3 seconds. Result images are never decoded: the PNG bytes the
webui returned are posted as they are, so their ``parameters`` chunk survives byte for byte.
"""

from __future__ import annotations

import asyncio
import io
import warnings

from PIL import Image, UnidentifiedImageError

from easel.request import RequestError

ACCEPTED_FORMATS = {"PNG", "JPEG", "WEBP", "GIF", "BMP"}


def _check_and_reencode(data: bytes, max_pixels: int) -> tuple[bytes, tuple[int, int]]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                fmt = probe.format
                w, h = probe.size
                if fmt not in ACCEPTED_FORMATS:
                    raise RequestError(f"The init image is {fmt or 'an unknown format'}; use PNG, JPEG or WebP.")
                if w * h > max_pixels:
                    raise RequestError(
                        f"The init image is {w}x{h}; the limit is {max_pixels:,} pixels. Scale it down first."
                    )
                probe.seek(0)
                probe.load()
                img = probe.convert("RGBA" if probe.mode in ("RGBA", "LA", "P") else "RGB")
    except RequestError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise RequestError("The init image could not be read as an image (PNG, JPEG or WebP).") from None
    except (OSError, ValueError, SyntaxError):
        raise RequestError("The init image is damaged or truncated.") from None
    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=1)
    return out.getvalue(), (w, h)


async def prepare_init_image(data: bytes, *, max_bytes: int, max_pixels: int) -> tuple[bytes, tuple[int, int]]:
    """Check an uploaded image and re-encode it as a clean PNG (no metadata, no trailing data).

    Raises RequestError with a message for the user. Pixel count is checked from the header before
    anything is decoded, so a decompression bomb costs nothing.
    """
    if len(data) > max_bytes:
        raise RequestError(f"The init image is {len(data) / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:.0f} MiB.")
    if not data:
        raise RequestError("The init image is empty.")
    return await asyncio.to_thread(_check_and_reencode, data, max_pixels)


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


def _fit(images: list[tuple[bytes, str]], per_file_budget: int) -> list[tuple[bytes, str]]:
    return [
        (data, "png") if len(data) <= per_file_budget else _reencode(data, info, per_file_budget)
        for data, info in images
    ]


async def fit_for_upload(images: list[tuple[bytes, str]], limit: int) -> list[tuple[bytes, str]]:
    """Make every image fit in one upload of ``limit`` bytes: PNGs that fit are kept byte for byte; larger ones
    become lossless WebP, then high-quality lossy WebP, keeping the infotext in EXIF UserComment. Returns
    ``(bytes, extension)``; the caller groups them into messages. Runs in a worker thread only when needed."""
    if all(len(data) <= limit for data, _ in images):
        return [(data, "png") for data, _ in images]
    return await asyncio.to_thread(_fit, images, limit)
