"""Infotext parsing/formatting and PNG text chunk reading."""

from __future__ import annotations

import io
import random
import re
import struct
import time
import tracemalloc
import zlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from easel.infotext import (
    MAX_INFOTEXT_CHARS,
    MAX_TEXT_BYTES,
    Infotext,
    _param_pairs,
    format_infotext,
    parse_infotext,
    parse_infotext_async,
    png_parameters,
    read_parameters,
    read_png_text,
)

A1111_TEXT = (
    "masterpiece, a cat in a hat, <lora:add_detail:0.5>\n"
    "Negative prompt: lowres, bad hands\n"
    "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.0, Seed: 1234567890, "
    "Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, "
    'Lora hashes: "add_detail: 7c6bad76eb54", Version: v1.10.1'
)


def _png(texts: dict[str, str], *, zip_keys: tuple[str, ...] = ()) -> bytes:
    info = PngInfo()
    for key, value in texts.items():
        info.add_text(key, value, zip=key in zip_keys)
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def _chunk(ctype: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(ctype + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", crc)


# ---- parsing ------------------------------------------------------------------------------------


def test_parse_full_a1111_infotext() -> None:
    it = parse_infotext(A1111_TEXT)
    assert it.prompt == "masterpiece, a cat in a hat, <lora:add_detail:0.5>"
    assert it.negative_prompt == "lowres, bad hands"
    assert it.steps == 20
    assert it.sampler == "DPM++ 2M"
    assert it.scheduler == "Karras"
    assert it.cfg_scale == 7.0
    assert it.seed == 1234567890
    assert it.size == (512, 768)
    assert it.model == "v1-5-pruned-emaonly"
    assert it.model_hash == "6ce0161689"
    assert it.params["Size"] == "512x768"
    assert it.params["Size-1"] == "512" and it.params["Size-2"] == "768"
    # quoted JSON value is unquoted
    assert it.params["Lora hashes"] == "add_detail: 7c6bad76eb54"
    assert it.params["Version"] == "v1.10.1"


def test_parse_multiline_prompt_and_negative() -> None:
    text = (
        "line one\nline two\n  line three  \n"
        "Negative prompt: neg one\nneg two\n"
        "Steps: 30, Sampler: Euler, CFG scale: 5.5, Seed: 7, Size: 1024x1024"
    )
    it = parse_infotext(text)
    assert it.prompt == "line one\nline two\nline three"
    assert it.negative_prompt == "neg one\nneg two"
    assert it.steps == 30
    assert it.cfg_scale == 5.5
    assert it.size == (1024, 1024)


def test_parse_without_negative_prompt() -> None:
    it = parse_infotext("a dog\nSteps: 20, Sampler: Euler, CFG scale: 7.0, Seed: 1, Size: 512x512")
    assert it.prompt == "a dog"
    assert it.negative_prompt == ""
    assert it.seed == 1


def test_last_line_needs_three_params() -> None:
    # Only two "key: value" matches: the last line belongs to the prompt.
    it = parse_infotext("a photo\nstyle: cinematic, mood: dark")
    assert it.prompt == "a photo\nstyle: cinematic, mood: dark"
    assert it.params == {}
    assert it.seed is None and it.size is None and it.steps is None


def test_parse_prompt_only() -> None:
    it = parse_infotext("  just a prompt  \n")
    assert it == Infotext(prompt="just a prompt", negative_prompt="", params={})


def test_parse_quoted_value_with_escapes_and_newline() -> None:
    text = 'p\nSteps: 20, Sampler: Euler, Hires prompt: "a, b\\nc \\"q\\"", Seed: 3, Size: 64x64'
    it = parse_infotext(text)
    assert it.params["Hires prompt"] == 'a, b\nc "q"'
    assert it.seed == 3


def test_parse_other_size_like_values_are_split() -> None:
    it = parse_infotext("p\nSteps: 20, Seed: 1, Size: 512x512, Hires resize: 1024x1536")
    assert it.params["Hires resize-1"] == "1024"
    assert it.params["Hires resize-2"] == "1536"


def test_parse_non_latin1() -> None:
    text = "日本の猫, café\nNegative prompt: ぼやけ\nSteps: 20, Sampler: Euler, Seed: 5, Size: 512x512"
    it = parse_infotext(text)
    assert it.prompt == "日本の猫, café"
    assert it.negative_prompt == "ぼやけ"


def test_helpers_tolerate_garbage() -> None:
    it = Infotext("p", "", {"Seed": "abc", "Steps": "20.0", "CFG scale": "x", "Size-1": "512"})
    assert it.seed is None
    assert it.steps == 20
    assert it.cfg_scale is None
    assert it.size is None  # Size-2 missing


def test_sdnext_style_infotext() -> None:
    text = (
        "a tree\nNegative prompt: \n"
        "Steps: 20, Size: 1024x1024, Sampler: Default, Seed: 99, CFG scale: 6, App: SD.Next, Version: 058a7f0"
    )
    it = parse_infotext(text)
    assert it.prompt == "a tree"
    assert it.negative_prompt == ""
    assert it.size == (1024, 1024)
    assert it.params["App"] == "SD.Next"


# ---- formatting ---------------------------------------------------------------------------------


def test_format_key_order_and_quoting() -> None:
    params = {
        "Version": "v1.10.1",
        "Lora hashes": "add_detail: 7c6bad76eb54",
        "Seed": 1234567890,
        "Size": (512, 768),
        "Model": "v1-5-pruned-emaonly",
        "Steps": 20,
        "Sampler": "DPM++ 2M",
        "CFG scale": 7.0,
        "Schedule type": "Karras",
        "Model hash": "6ce0161689",
        "Denoising strength": None,  # left out
    }
    text = format_infotext("masterpiece, a cat in a hat, <lora:add_detail:0.5>", "lowres, bad hands", params)
    assert text == A1111_TEXT


def test_format_without_negative_prompt_omits_line() -> None:
    text = format_infotext("p", "", {"Steps": 20, "Sampler": "Euler", "Seed": 1})
    assert text == "p\nSteps: 20, Sampler: Euler, Seed: 1"


def test_format_user_after_version_and_extras_before() -> None:
    text = format_infotext("p", "", {"User": "bob", "Version": "v1", "Hires upscale": 2.0, "Steps": 5})
    assert text.endswith("Steps: 5, Hires upscale: 2.0, Version: v1, User: bob")


def test_format_size_from_split_keys() -> None:
    text = format_infotext("p", "", {"Steps": 1, "Size-1": "640", "Size-2": "480", "Seed": 2})
    assert text == "p\nSteps: 1, Seed: 2, Size: 640x480"


def test_roundtrip_of_webui_text() -> None:
    it = parse_infotext(A1111_TEXT)
    assert format_infotext(it.prompt, it.negative_prompt, it.params) == A1111_TEXT


_ALPHABET = "abcxyz ,:()[]<>\"'\\-_/日本éü!?0123456789"
_KEYS = [
    "Steps",
    "Sampler",
    "Seed",
    "Size",
    "CFG scale",
    "Hires upscaler",
    "Lora hashes",
    "Emphasis",
    "Version",
]


def _random_text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, n))).strip() or "x"


@pytest.mark.parametrize("seed", range(200))
def test_roundtrip_random(seed: int) -> None:
    rng = random.Random(seed)
    prompt_lines = [_random_text(rng, 30) for _ in range(rng.randint(1, 3))]
    # webui's parser cannot represent these; they are not round-trippable by design
    prompt_lines = [ln for ln in prompt_lines if not ln.startswith("Negative prompt:")] or ["x"]
    prompt = "\n".join(prompt_lines)
    negative = "\n".join(_random_text(rng, 20) for _ in range(rng.randint(0, 2)))
    params: dict[str, object] = {
        "Steps": rng.randint(1, 150),
        "Sampler": "Euler a",
        "Seed": rng.randint(0, 2**32),
    }
    for key in rng.sample(_KEYS, rng.randint(0, len(_KEYS))):
        if key == "Size":
            params[key] = f"{rng.randint(1, 4096)}x{rng.randint(1, 4096)}"
        elif key not in params:
            value = _random_text(rng, 25)
            if value.startswith('"'):  # a bare value starting with a quote is ambiguous in webui's format
                value = "v" + value
            params[key] = value
    text = format_infotext(prompt, negative, params)
    it = parse_infotext(text)
    assert it.prompt == prompt
    assert it.negative_prompt == negative
    for key, value in params.items():
        assert it.params[key] == str(value), (key, text)


# ---- PNG text chunks ----------------------------------------------------------------------------


def test_read_png_text_tEXt() -> None:
    data = _png({"parameters": A1111_TEXT, "other": "x"})
    assert read_png_text(data) == {"parameters": A1111_TEXT, "other": "x"}
    assert png_parameters(data) == A1111_TEXT


def test_read_png_text_itxt_for_non_latin1() -> None:
    text = "日本の猫\nNegative prompt: ぼやけ\nSteps: 20, Sampler: Euler, Seed: 5, Size: 8x8"
    data = _png({"parameters": text})
    assert b"iTXt" in data  # Pillow writes iTXt for text latin-1 cannot hold
    assert png_parameters(data) == text
    assert parse_infotext(png_parameters(data) or "").prompt == "日本の猫"


def test_read_png_text_compressed_chunks() -> None:
    long_latin = "café " * 200
    long_utf8 = "日本 " * 200
    data = _png({"a": long_latin, "b": long_utf8}, zip_keys=("a", "b"))
    assert b"zTXt" in data and b"iTXt" in data
    assert read_png_text(data) == {"a": long_latin, "b": long_utf8}


def test_read_png_text_after_idat() -> None:
    base = _png({})
    iend = base.rindex(b"IEND") - 4
    extra = _chunk(b"tEXt", b"parameters\x00late text")
    data = base[:iend] + extra + base[iend:]
    assert png_parameters(data) == "late text"
    assert Image.open(io.BytesIO(data)).size == (8, 8)


def test_read_png_text_not_png_or_truncated() -> None:
    assert read_png_text(b"") == {}
    assert read_png_text(b"GIF89a....") == {}
    assert png_parameters(b"\xff\xd8\xff\xe0 jpeg") is None
    data = _png({"parameters": "abc"})
    cut = data.index(b"IDAT") + 10
    assert read_png_text(data[:cut]) == {"parameters": "abc"}
    assert read_png_text(data[:20]) == {}


def test_read_png_text_skips_broken_chunks() -> None:
    base = _png({})
    iend = base.rindex(b"IEND") - 4
    broken = _chunk(b"zTXt", b"k\x00\x00not zlib") + _chunk(b"iTXt", b"nokeyterminator")
    good = _chunk(b"tEXt", b"parameters\x00ok")
    data = base[:iend] + broken + good + base[iend:]
    assert read_png_text(data) == {"parameters": "ok"}


def test_read_png_text_bomb_is_refused() -> None:
    base = _png({})
    iend = base.rindex(b"IEND") - 4
    bomb = _chunk(b"zTXt", b"bomb\x00\x00" + zlib.compress(b"\x00" * (8 * 1024 * 1024)))
    data = base[:iend] + bomb + base[iend:]
    assert read_png_text(data) == {}


# ---- hostile input: bounded memory and linear time ------------------------------------------------------------

# The webui's own parameter-line pattern: _param_pairs must find exactly what it finds.
WEBUI_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet='ab :,"\\ -/\t1é_', max_size=30))
def test_param_line_parser_finds_what_the_webui_pattern_finds(line: str) -> None:
    assert _param_pairs(line) == WEBUI_PARAM.findall(line)


def test_param_line_parser_is_linear() -> None:
    """A long last line with no ':' made the webui's pattern backtrack quadratically (20,000 characters: seconds).
    Ten times the input must cost about ten times the work, not a hundred."""

    def cost(n: int) -> float:
        line = "a" * n
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            assert _param_pairs(line) == []
            best = min(best, time.perf_counter() - start)
        return best

    small, large = cost(6_000), cost(60_000)
    assert large / small < 35, (small, large)


def test_parse_infotext_reads_a_bounded_prefix() -> None:
    text = "a cat " + "x" * (MAX_INFOTEXT_CHARS * 4) + "\nSteps: 20, Sampler: Euler, Seed: 1, Size: 512x512"
    it = parse_infotext(text)
    assert len(it.prompt) + len(it.negative_prompt) <= MAX_INFOTEXT_CHARS


def _with_chunks(chunks: bytes) -> bytes:
    base = _png({})
    iend = base.rindex(b"IEND") - 4
    return base[:iend] + chunks + base[iend:]


def _peak_bytes(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_many_compressed_chunks_are_not_inflated_for_parameters() -> None:
    """A 250 KiB PNG of zTXt chunks that each inflate to 4 MiB made the reader allocate ~1,000x the file."""
    bomb = zlib.compress(b"\x00" * (4 * 1024 * 1024 - 1), 9)
    data = _with_chunks(b"".join(_chunk(b"zTXt", b"junk%d\x00\x00" % i + bomb) for i in range(60)))
    assert len(data) < 300 * 1024
    assert _peak_bytes(lambda: png_parameters(data)) < 1024 * 1024
    assert png_parameters(data) is None


def test_all_text_chunks_together_inflate_to_at_most_the_cap() -> None:
    bomb = zlib.compress(b"\x00" * (4 * 1024 * 1024 - 1), 9)
    data = _with_chunks(b"".join(_chunk(b"zTXt", b"junk%d\x00\x00" % i + bomb) for i in range(60)))
    assert _peak_bytes(lambda: read_png_text(data)) < 3 * MAX_TEXT_BYTES


async def test_async_readers_give_the_same_answers() -> None:
    data = _png({"parameters": A1111_TEXT})
    assert await read_parameters(data) == A1111_TEXT
    assert await parse_infotext_async(A1111_TEXT) == parse_infotext(A1111_TEXT)
