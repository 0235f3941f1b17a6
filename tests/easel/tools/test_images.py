"""Pictures the tools read: checked, re-encoded, their infotext kept; the infotext carried over after an upscale."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from easel.errors import RequestError
from easel.infotext import png_parameters
from easel.tools.images import image_size, load_tool_image, with_parameters

MB = 2**20


def encoded(fmt: str, size: tuple[int, int] = (40, 30), infotext: str = "", exif: bytes | None = None) -> bytes:
    out = io.BytesIO()
    img = Image.new("RGB", size, (1, 2, 3))
    if fmt == "PNG" and infotext:
        meta = PngInfo()
        meta.add_text("parameters", infotext)
        img.save(out, format="PNG", pnginfo=meta)
    else:
        img.save(out, format=fmt, **({"exif": exif} if exif else {}))
    return out.getvalue()


async def test_a_png_keeps_its_infotext_and_nothing_else() -> None:
    image = await load_tool_image(encoded("PNG", infotext="a fox\nSteps: 20"), max_bytes=MB, max_pixels=10_000)
    assert image.size == (40, 30) and image.infotext == "a fox\nSteps: 20"
    assert png_parameters(image.png) == "a fox\nSteps: 20"


async def test_jpeg_and_webp_with_an_exif_comment() -> None:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\0" + "a cat\nSeed: 3".encode("utf-16-be")
    for fmt in ("JPEG", "WEBP"):
        image = await load_tool_image(encoded(fmt, exif=exif.tobytes()), max_bytes=MB, max_pixels=10_000)
        assert image.infotext == "a cat\nSeed: 3", fmt
        with Image.open(io.BytesIO(image.png)) as im:
            assert im.format == "PNG"


@pytest.mark.parametrize(
    ("data", "max_bytes", "max_pixels", "message"),
    [
        (b"", MB, 10_000, "empty"),
        (encoded("PNG"), 50, 10_000, "MiB"),
        (encoded("PNG", (200, 200)), MB, 10_000, "200x200; the limit is 10,000 pixels"),
        (b"GIF89a not a gif", MB, 10_000, "could not be read"),
        (encoded("TIFF"), MB, 10_000, "TIFF"),
        (encoded("PNG")[:60], MB, 10_000, "damaged"),
    ],
)
async def test_refusals(data: bytes, max_bytes: int, max_pixels: int, message: str) -> None:
    with pytest.raises(RequestError, match=message):
        await load_tool_image(data, max_bytes=max_bytes, max_pixels=max_pixels)


async def test_with_parameters_adds_the_text_only_when_missing() -> None:
    bare = encoded("PNG")
    added = await with_parameters(bare, "kept")
    assert png_parameters(added) == "kept"
    own = encoded("PNG", infotext="its own")
    assert await with_parameters(own, "other") == own
    assert await with_parameters(b"not an image", "x") == b"not an image"
    assert await image_size(added) == (40, 30)
    with pytest.raises(RequestError):
        await image_size(b"junk")
