"""easel.images: init images (checked, re-encoded, scaled to the request) and results fitted under the upload
limit, with hostile input: truncated files, decompression-bomb headers, non-image bytes, animations."""

from __future__ import annotations

import io
import random
import struct
import zlib

import pytest
from PIL import Image

from easel.errors import RequestError
from easel.i18n import use_locale
from easel.images import (
    INIT_IMAGE_TEXTS,
    cover_size,
    fit_for_upload,
    fit_init_image,
    open_picture,
    prepare_init_image,
)
from easel.infotext import png_parameters
from easel.tools.images import TOOL_PICTURE_TEXTS, load_tool_image

MiB = 2**20
LIMITS = {"max_bytes": 10 * MiB, "max_pixels": 4096 * 4096}


def encode(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **kwargs)
    return out.getvalue()


def photo(width: int, height: int) -> Image.Image:
    """Noise: incompressible, like a photo's detail (a flat image would make every PNG tiny)."""
    return Image.frombytes("RGB", (width, height), random.Random(width * height).randbytes(width * height * 3))


def decoded(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return im.copy()


def png_with_header_size(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims ``width`` x ``height`` (a decompression bomb's header)."""
    data = bytearray(encode(Image.new("RGB", (8, 8)), "PNG"))
    ihdr = bytearray(data[16:29])
    ihdr[0:8] = struct.pack(">II", width, height)
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)))
    return bytes(data)


# ---- cover_size ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "box", "expected"),
    [
        ((4096, 4096), (512, 512), (512, 512)),
        ((4000, 3000), (512, 512), (683, 512)),  # keeps the aspect ratio, covers the box
        ((3000, 4000), (768, 512), (768, 1024)),
        ((512, 512), (1024, 1024), None),  # never scaled up
        ((600, 512), (512, 512), None),  # the short side is already the box's: nothing to gain
    ],
)
def test_cover_size(size: tuple[int, int], box: tuple[int, int], expected: tuple[int, int] | None) -> None:
    assert cover_size(size, box) == expected


# ---- prepare_init_image ---------------------------------------------------------------------------------------


async def test_large_jpeg_is_scaled_to_cover_the_request() -> None:
    jpeg = encode(photo(2048, 1536), "JPEG", quality=90)
    full, size = await prepare_init_image(jpeg, **LIMITS)
    small, size2 = await prepare_init_image(jpeg, **LIMITS, fit_to=(512, 512))
    assert size == size2 == (2048, 1536)  # the upload's own size either way
    assert decoded(full).size == (2048, 1536)
    assert decoded(small).size == (683, 512)
    assert small.startswith(b"\x89PNG") and len(small) * 8 < len(full)


async def test_small_image_is_not_scaled_up() -> None:
    png, size = await prepare_init_image(encode(photo(300, 200), "PNG"), **LIMITS, fit_to=(512, 512))
    assert size == (300, 200) and decoded(png).size == (300, 200)


async def test_fit_init_image_scales_a_prepared_png_down_and_keeps_a_small_one() -> None:
    png, _ = await prepare_init_image(encode(photo(1600, 1200), "PNG"), **LIMITS)
    fitted = await fit_init_image(png, 512, 512)
    assert decoded(fitted).size == (683, 512)
    assert await fit_init_image(fitted, 512, 512) is fitted  # already small enough: the same bytes


async def test_exif_rotation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait (a phone photo)
    jpeg = encode(photo(800, 600), "JPEG", exif=exif.tobytes())
    png, size = await prepare_init_image(jpeg, **LIMITS, fit_to=(300, 300))
    assert size == (600, 800)
    assert decoded(png).size == (300, 400)


async def test_metadata_and_trailing_bytes_are_dropped() -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", "secret prompt")
    png, _ = await prepare_init_image(encode(photo(64, 64), "PNG", pnginfo=info) + b"TRAILING", **LIMITS)
    assert png_parameters(png) is None and b"TRAILING" not in png


async def test_animated_gif_becomes_its_first_frame() -> None:
    frames = [Image.new("RGB", (64, 48), colour) for colour in ("red", "green", "blue")]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    with Image.open(io.BytesIO(gif)) as probe:
        assert probe.n_frames == 3
    png, size = await prepare_init_image(gif, **LIMITS)
    with Image.open(io.BytesIO(png)) as out:
        assert size == (64, 48) and out.format == "PNG" and getattr(out, "n_frames", 1) == 1
        assert out.convert("RGB").getpixel((10, 10)) == (255, 0, 0)


async def test_truncated_image() -> None:
    jpeg = encode(photo(256, 256), "JPEG")
    with pytest.raises(RequestError, match="damaged or truncated"):
        await prepare_init_image(jpeg[: len(jpeg) // 2], **LIMITS)
    png = encode(photo(256, 256), "PNG")
    with pytest.raises(RequestError, match="damaged or truncated"):
        await prepare_init_image(png[: len(png) // 2], **LIMITS, fit_to=(64, 64))


@pytest.mark.parametrize("dims", [(20_000, 20_000), (60_000, 60_000)])  # over our limit; over Pillow's own too
async def test_decompression_bomb_header_is_refused_without_decoding(dims: tuple[int, int]) -> None:
    bomb = png_with_header_size(*dims)
    assert len(bomb) < 200
    with pytest.raises(RequestError, match="limit is 16,777,216 pixels"):
        await prepare_init_image(bomb, **LIMITS)


@pytest.mark.parametrize(
    "data", [b"<html>not an image</html>", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b"GIF89a" + b"\xff" * 10]
)
async def test_non_image_bytes(data: bytes) -> None:
    with pytest.raises(RequestError) as ei:
        await prepare_init_image(data, **LIMITS)
    assert "image" in str(ei.value)


async def test_empty_oversize_and_unaccepted_format() -> None:
    with pytest.raises(RequestError, match="empty"):
        await prepare_init_image(b"", **LIMITS)
    with pytest.raises(RequestError, match="limit is 1 MiB"):
        await prepare_init_image(b"x" * (MiB + 1), max_bytes=MiB, max_pixels=10**6)
    with pytest.raises(RequestError, match="TIFF"):
        await prepare_init_image(encode(photo(16, 16), "TIFF"), **LIMITS)


# ---- open_picture: the one probe of init images and of the tools' pictures ---------------------------------------


def _truncated_png() -> bytes:
    png = encode(photo(256, 256), "PNG")
    return png[: len(png) // 2]


# (file, max_pixels, what the init image check says, what the tools say): each caller keeps its own words.
HOSTILE = {
    "truncated": (
        _truncated_png(),
        4096 * 4096,
        "The init image is damaged or truncated.",
        "That picture is damaged or truncated.",
    ),
    "over the limit": (
        png_with_header_size(5000, 4000),
        4096 * 4096,
        "The init image is 5000x4000; the limit is 16,777,216 pixels. Scale it down first.",
        "That picture is 5000x4000; the limit is 16,777,216 pixels.",
    ),
    # Within a (too generous) limit, but a decompression bomb by Pillow's measure: its warning, and its error.
    "bomb warning": (
        png_with_header_size(10_000, 10_000),
        10**10,
        "The init image is too large; the limit is 10,000,000,000 pixels.",
        "That picture is too large; the limit is 10,000,000,000 pixels.",
    ),
    "bomb error": (
        png_with_header_size(60_000, 60_000),
        10**10,
        "The init image is too large; the limit is 10,000,000,000 pixels.",
        "That picture is too large; the limit is 10,000,000,000 pixels.",
    ),
    "wrong format": (
        encode(photo(16, 16), "TIFF"),
        4096 * 4096,
        "The init image is TIFF; use PNG, JPEG or WebP.",
        "That file is TIFF, not a picture Easel can use (PNG, JPEG or WebP).",
    ),
    "not a picture": (
        b"<html>not an image</html>",
        4096 * 4096,
        "The init image could not be read as an image (PNG, JPEG or WebP).",
        "That file could not be read as a picture (PNG, JPEG or WebP).",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_hostile_pictures_are_refused_in_each_callers_words(case: str) -> None:
    data, max_pixels, init_text, tool_text = HOSTILE[case]
    for texts, expected in ((INIT_IMAGE_TEXTS, init_text), (TOOL_PICTURE_TEXTS, tool_text)):
        with pytest.raises(RequestError) as ei:
            with open_picture(data, max_pixels, texts) as probe:
                probe.load()
        assert str(ei.value) == expected
    with pytest.raises(RequestError) as ei:
        await prepare_init_image(data, max_bytes=10 * MiB, max_pixels=max_pixels)
    assert str(ei.value) == init_text
    with pytest.raises(RequestError) as ei:
        await load_tool_image(data, max_bytes=10 * MiB, max_pixels=max_pixels)
    assert str(ei.value) == tool_text


def test_open_picture_passes_a_good_picture_and_the_blocks_own_refusal() -> None:
    with open_picture(encode(photo(40, 30), "PNG"), 40 * 30, INIT_IMAGE_TEXTS) as probe:
        probe.load()
        assert probe.size == (40, 30)
    with pytest.raises(RequestError, match=r"^the caller's own$"):
        with open_picture(encode(photo(8, 8), "PNG"), 64, INIT_IMAGE_TEXTS):
            raise RequestError("the caller's own")


async def test_pixel_limits_are_written_the_members_way() -> None:
    big = png_with_header_size(5000, 4000)
    with use_locale("de"):
        with pytest.raises(RequestError) as init:
            await prepare_init_image(big, max_bytes=10 * MiB, max_pixels=4096 * 4096)
        with pytest.raises(RequestError) as tool:
            await load_tool_image(big, max_bytes=10 * MiB, max_pixels=4096 * 4096)
    for ei in (init, tool):
        assert "16.777.216" in str(ei.value) and "5000x4000" in str(ei.value), str(ei.value)


# ---- fit_for_upload ---------------------------------------------------------------------------------------------


async def test_results_that_fit_are_kept_byte_for_byte() -> None:
    png = encode(photo(64, 64), "PNG")
    jpeg = encode(photo(64, 64), "JPEG")
    assert await fit_for_upload([(png, "a"), (jpeg, "b")], MiB) == [(png, "png"), (jpeg, "jpg")]


async def test_large_result_is_reencoded_under_the_limit_with_its_infotext() -> None:
    png = encode(photo(512, 512), "PNG")
    assert len(png) > 600_000
    [(data, ext)] = await fit_for_upload([(png, "a cat\nSteps: 20, Seed: 1")], 300_000)
    assert ext == "webp" and len(data) <= 300_000
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "WEBP" and im.size == (512, 512)
        comment = im.getexif().get_ifd(0x8769).get(0x9286)
    assert comment is not None and "Seed: 1".encode("utf-16-be") in comment


@pytest.mark.parametrize("kind", ["truncated", "not-an-image", "bomb"])
async def test_undecodable_large_result_is_kept_not_lost(kind: str) -> None:
    png = encode(photo(512, 512), "PNG")
    data = {
        "truncated": png[: len(png) * 2 // 3],
        "not-an-image": b"<html>" + b"x" * 700_000,
        "bomb": png_with_header_size(60_000, 60_000) + b"\0" * 700_000,
    }[kind]
    ok = encode(photo(32, 32), "PNG")
    out = await fit_for_upload([(data, ""), (ok, "")], 300_000)
    assert out[0][0] is data and out[1] == (ok, "png")
