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
