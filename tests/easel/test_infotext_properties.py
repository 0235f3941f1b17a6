"""Properties of easel/infotext.py over generated inputs (Hypothesis).

Infotexts and PNGs reach the bot from users (uploads, pasted text) as well as from the webui: parsing must
never raise, whatever the input, and what the bot writes it must read back unchanged."""

from __future__ import annotations

import io
import struct
import zlib

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from easel.infotext import PARAM_KEY_ORDER, format_infotext, parse_infotext, png_parameters, read_png_text

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------------------------------------------------------
# strategies

# Text a person would type: any printable character (no control characters), commas, colons, quotes included.
typed = st.characters(categories=["L", "M", "N", "P", "S", "Zs"])


def _clean_lines(lines: list[str]) -> str:
    # The format strips each prompt line and the whole text (as the webui does): generate it that way.
    return "\n".join(line.strip() for line in lines).strip()


prompt_lines = st.lists(st.text(typed, max_size=40), max_size=4)
prompts = prompt_lines.map(_clean_lines).filter(
    lambda p: not any(line.startswith("Negative prompt:") for line in p.split("\n"))
)

# Parameter keys: the webui's own, plus made-up ones of the shape its regex reads (a word character first,
# two characters at least, no trailing -1/-2 which the parser reserves for split sizes).
made_up_keys = st.from_regex(r"[A-Za-z][A-Za-z0-9 ]{0,14}[A-Za-z0-9]", fullmatch=True).filter(
    lambda k: not k.endswith(("-1", "-2")) and "  " not in k
)
keys = st.one_of(st.sampled_from([*PARAM_KEY_ORDER, "Hires upscale", "Lora hashes", "Version"]), made_up_keys)

# A value as typed, blanks at either end included (format_infotext quotes those).
free_values = st.text(typed, min_size=1, max_size=40)
values = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.tuples(st.integers(1, 8192), st.integers(1, 8192)),
    free_values,
)
core = st.fixed_dictionaries(
    {
        "Steps": st.integers(1, 150),
        "Sampler": st.sampled_from(["Euler a", "DPM++ 2M", "DPM++ SDE Karras", "UniPC"]),
        "Seed": st.integers(0, 2**32 - 1),
    }
)
params = st.tuples(core, st.dictionaries(keys, values, max_size=8)).map(lambda t: {**t[1], **t[0]})


def expected_text(value: object) -> str:
    if isinstance(value, tuple):
        return f"{value[0]}x{value[1]}"
    return str(value)


# ---------------------------------------------------------------------------------------------------------------
# parse_infotext


@FAST
@given(st.text())
def test_parse_never_raises_on_any_text(text: str) -> None:
    info = parse_infotext(text)
    assert isinstance(info.prompt, str) and isinstance(info.negative_prompt, str)
    # the typed accessors never raise either
    _ = (info.seed, info.steps, info.cfg_scale, info.size, info.sampler, info.model)


@FAST
@given(
    st.lists(st.one_of(st.text(max_size=30), st.sampled_from(["Negative prompt:", ", ", ": ", '"', "\\"])), max_size=30)
)
def test_parse_never_raises_on_infotext_shaped_text(parts: list[str]) -> None:
    parse_infotext("".join(parts))


@FAST
@given(prompts, prompts, params)
def test_format_then_parse_round_trips(prompt: str, negative: str, values: dict[str, object]) -> None:
    text = format_infotext(prompt, negative, values)
    info = parse_infotext(text)
    assert info.prompt == prompt
    assert info.negative_prompt == negative
    for key, value in values.items():
        assert info.params.get(key) == expected_text(value), (key, text)
    derived = {k for k in info.params if k not in values}
    assert all(k.endswith(("-1", "-2")) and k[:-2] in values for k in derived), derived
    assert info.seed == values["Seed"] and info.steps == values["Steps"]


@FAST
@given(prompts, params)
def test_formatted_infotext_survives_a_png(prompt: str, values: dict[str, object]) -> None:
    """What the bot writes into a PNG (tEXt, or iTXt beyond Latin-1) reads back byte for byte."""
    text = format_infotext(prompt, "", values)
    meta = PngInfo()
    meta.add_text("parameters", text)
    out = io.BytesIO()
    Image.new("RGB", (2, 2)).save(out, format="PNG", pnginfo=meta)
    assert png_parameters(out.getvalue()) == text


# text without the characters that make format_infotext quote, nor backslash / quote (so it stays valid JSON)
plain_inner = st.text(st.characters(categories=["L", "N", "Zs"]), min_size=1, max_size=20)


@settings(max_examples=10, deadline=None, phases=[Phase.generate])  # every example fails: no need to shrink
@given(params, plain_inner)
def test_format_then_parse_round_trips_a_quoted_looking_value(values: dict[str, object], inner: str) -> None:
    values = {**values, "Note": f'"{inner}"'}
    assert parse_infotext(format_infotext("p", "", values)).params["Note"] == f'"{inner}"'


def test_a_value_that_looks_quoted_round_trips() -> None:
    """The smallest case of the property above."""
    values = {"Steps": 20, "Sampler": "Euler a", "Seed": 1, "Note": '"x"'}
    assert parse_infotext(format_infotext("p", "", values)).params["Note"] == '"x"'


# ---------------------------------------------------------------------------------------------------------------
# read_png_text

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def real_png() -> bytes:
    meta = PngInfo()
    meta.add_text("parameters", format_infotext("a fox", "blurry", {"Steps": 20, "Sampler": "Euler a", "Seed": 7}))
    meta.add_text("comment", "zipped " * 50, zip=True)
    meta.add_itxt("title", "ünïcode title", lang="de", tkey="Titel", zip=True)
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(out, format="PNG", pnginfo=meta)
    return out.getvalue()


REAL_PNG = real_png()
REAL_TEXT = read_png_text(REAL_PNG)


def test_the_real_png_has_its_three_text_chunks() -> None:
    assert set(REAL_TEXT) == {"parameters", "comment", "title"} and REAL_TEXT["title"] == "ünïcode title"


@FAST
@given(st.binary(max_size=2048))
def test_read_png_text_never_raises_on_any_bytes(data: bytes) -> None:
    assert isinstance(read_png_text(data), dict)
    assert isinstance(read_png_text(PNG_SIGNATURE + data), dict)


text_chunk_types = st.sampled_from([b"tEXt", b"zTXt", b"iTXt", b"IHDR", b"IDAT", b"IEND", b"abcd"])
chunk_bodies = st.one_of(
    st.binary(max_size=200),
    st.tuples(st.binary(max_size=20), st.binary(max_size=100)).map(lambda t: t[0] + b"\0" + t[1]),
    # keyword, then a compression method byte and (maybe) zlib data: zTXt/iTXt-shaped
    st.tuples(st.binary(max_size=10), st.binary(max_size=4), st.binary(max_size=100)).map(
        lambda t: t[0] + b"\0" + t[1] + zlib.compress(t[2])
    ),
)


@FAST
@given(st.lists(st.tuples(text_chunk_types, chunk_bodies), max_size=12), st.integers(0, 4096))
def test_read_png_text_never_raises_on_chunk_soup(chunks: list[tuple[bytes, bytes]], cut: int) -> None:
    data = PNG_SIGNATURE + b"".join(chunk(t, b) for t, b in chunks)
    assert isinstance(read_png_text(data), dict)
    assert isinstance(read_png_text(data[:cut]), dict)


mutations = st.lists(
    st.tuples(
        st.sampled_from(["flip", "insert", "delete"]),
        st.integers(0, len(REAL_PNG) - 1),
        st.binary(min_size=1, max_size=8),
    ),
    min_size=1,
    max_size=6,
)


@FAST
@given(mutations)
def test_read_png_text_never_raises_on_mutated_real_pngs(edits: list[tuple[str, int, bytes]]) -> None:
    data = bytearray(REAL_PNG)
    for op, pos, payload in edits:
        pos = min(pos, len(data))
        if op == "flip":
            data[pos : pos + len(payload)] = bytes(
                b ^ p for b, p in zip(data[pos : pos + len(payload)], payload, strict=False)
            )
        elif op == "insert":
            data[pos:pos] = payload
        else:
            del data[pos : pos + len(payload)]
    assert isinstance(read_png_text(bytes(data)), dict)


@FAST
@given(st.integers(0, len(REAL_PNG)))
def test_a_truncated_png_yields_what_was_read_before_the_cut(cut: int) -> None:
    found = read_png_text(REAL_PNG[:cut])
    assert found.items() <= REAL_TEXT.items()


@settings(max_examples=5, deadline=None)
@given(st.integers(1, 4))
def test_many_zlib_bomb_chunks_are_bounded(count: int) -> None:
    """zTXt chunks that inflate past the file's budget are dropped (and once it is spent, so are the compressed
    chunks after them); the infotext itself is never read past another keyword's bomb."""
    bomb = zlib.compress(b"\0" * (5 * 1024 * 1024), 9)
    data = REAL_PNG[:33] + b"".join(chunk(b"zTXt", b"k%d\0\0" % i + bomb) for i in range(count)) + REAL_PNG[33:]
    found = read_png_text(data)
    assert not any(k.startswith("k") and k[1:].isdigit() for k in found)
    assert found.items() <= REAL_TEXT.items()
    assert png_parameters(data) == REAL_TEXT["parameters"]
