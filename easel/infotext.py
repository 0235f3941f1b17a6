"""Infotext ("generation parameters") parsing and formatting, and PNG text chunk reading.

The webui writes the infotext of every image into a PNG text chunk named ``parameters`` and into
``info.infotexts``. The format (webui-api.md sec. 7)::

    <prompt, possibly several lines>
    Negative prompt: <negative prompt, possibly several lines>
    Steps: 20, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7.0, Seed: 1234, Size: 512x512, ...

``read_png_text`` walks the PNG chunk list directly (no pixel decoding, no Pillow), so it is cheap enough to
call on every image the bot handles.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import struct
import weakref
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "PARAM_KEY_ORDER",
    "Infotext",
    "format_infotext",
    "parse_infotext",
    "parse_infotext_async",
    "png_parameters",
    "read_parameters",
    "read_png_text",
]

log = logging.getLogger(__name__)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# A single text chunk may not inflate beyond this (guards against zlib bombs in user uploads).
_MAX_TEXT_BYTES = 4 * 1024 * 1024

# webui's own regexes (modules/infotext_utils.py, 1.10.1).
_RE_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_RE_IMAGESIZE = re.compile(r"^(\d+)x(\d+)$")

# Fixed key order of the parameter line (create_infotext, 1.10.1). Keys not listed keep insertion order and go
# after these; "Version" and "User" always come last.
PARAM_KEY_ORDER: tuple[str, ...] = (
    "Steps",
    "Sampler",
    "Schedule type",
    "CFG scale",
    "Image CFG scale",
    "Seed",
    "Face restoration",
    "Size",
    "Model hash",
    "Model",
    "FP8 weight",
    "Cache FP16 weight for LoRA",
    "VAE hash",
    "VAE",
    "Variation seed",
    "Variation seed strength",
    "Seed resize from",
    "Denoising strength",
    "Conditional mask weight",
    "Clip skip",
    "ENSD",
    "Token merging ratio",
    "Token merging ratio hr",
    "Init image hash",
    "RNG",
    "Tiling",
)
_TRAILING_KEYS: tuple[str, ...] = ("Version", "User")


# --------------------------------------------------------------------------------------------------
# PNG text chunks


def _inflate(data: bytes) -> bytes:
    d = zlib.decompressobj()
    out = d.decompress(data, _MAX_TEXT_BYTES)
    if d.unconsumed_tail:
        raise ValueError("text chunk too large")
    return out


def _decode_text_chunk(ctype: bytes, body: bytes) -> tuple[str, str] | None:
    key_raw, sep, rest = body.partition(b"\x00")
    if not sep or not key_raw:
        return None
    key = key_raw.decode("latin-1")
    if ctype == b"tEXt":
        return key, rest.decode("latin-1")
    if ctype == b"zTXt":
        if not rest or rest[0] != 0:  # compression method 0 = zlib, the only one defined
            return None
        return key, _inflate(rest[1:]).decode("latin-1")
    # iTXt: keyword \0 compression flag, compression method, language tag \0 translated keyword \0
    # text (UTF-8)
    if len(rest) < 2:
        return None
    compressed, method = rest[0], rest[1]
    _lang, sep1, rest = rest[2:].partition(b"\x00")
    _translated, sep2, text = rest.partition(b"\x00")
    if not sep1 or not sep2:
        return None
    if compressed:
        if method != 0:
            return None
        text = _inflate(text)
    return key, text.decode("utf-8", errors="replace")


def read_png_text(data: bytes) -> dict[str, str]:
    """Return the tEXt / zTXt / iTXt entries of a PNG, keyword -> text, without decoding pixels.

    Returns ``{}`` for data that is not a PNG. A truncated file yields whatever was read before the cut.
    When a keyword repeats, the later chunk wins (as in Pillow's ``Image.info``).
    """
    if not data.startswith(PNG_SIGNATURE):
        return {}
    out: dict[str, str] = {}
    mv = memoryview(data)
    pos = len(PNG_SIGNATURE)
    end = len(data)
    while pos + 8 <= end:
        length, ctype = struct.unpack(">I4s", mv[pos : pos + 8])
        body_start = pos + 8
        body_end = body_start + length
        if body_end + 4 > end:
            break  # truncated
        if ctype in (b"tEXt", b"zTXt", b"iTXt"):
            try:
                entry = _decode_text_chunk(ctype, bytes(mv[body_start:body_end]))
            except (ValueError, zlib.error) as exc:
                log.debug("skipping unreadable %s chunk: %s", ctype.decode("ascii"), exc)
                entry = None
            if entry is not None:
                out[entry[0]] = entry[1]
        elif ctype == b"IEND":
            break
        pos = body_end + 4  # skip CRC
    return out


def png_parameters(data: bytes) -> str | None:
    """The infotext stored in a PNG's ``parameters`` chunk, or None."""
    return read_png_text(data).get("parameters")


# --------------------------------------------------------------------------------------------------
# Infotext


def _unquote(text: str) -> str:
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, str) else text


def _to_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        try:
            return int(float(value))
        except ValueError:
            return None


def _to_float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class Infotext:
    """A parsed infotext. ``params`` values are the raw strings (JSON-quoted values already unquoted).

    ``Size: 512x768`` is kept as ``"Size"`` and also split into ``"Size-1"`` / ``"Size-2"`` like the webui
    does (the same holds for any other ``WxH`` value, e.g. ``Hires resize``).
    """

    prompt: str
    negative_prompt: str
    params: dict[str, str] = field(default_factory=dict)

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.params.get(key, default)

    @property
    def seed(self) -> int | None:
        return _to_int(self.params.get("Seed"))

    @property
    def steps(self) -> int | None:
        return _to_int(self.params.get("Steps"))

    @property
    def sampler(self) -> str | None:
        return self.params.get("Sampler")

    @property
    def scheduler(self) -> str | None:
        return self.params.get("Schedule type")

    @property
    def cfg_scale(self) -> float | None:
        return _to_float(self.params.get("CFG scale"))

    @property
    def size(self) -> tuple[int, int] | None:
        w = _to_int(self.params.get("Size-1"))
        h = _to_int(self.params.get("Size-2"))
        if w is None or h is None:
            return None
        return w, h

    @property
    def model(self) -> str | None:
        return self.params.get("Model")

    @property
    def model_hash(self) -> str | None:
        return self.params.get("Model hash")


def parse_infotext(text: str) -> Infotext:
    """Parse an infotext the way webui's ``parse_generation_parameters`` does.

    The last line holds the parameters only when it has at least 3 ``key: value`` matches; otherwise it
    belongs to the prompt. A line starting with ``Negative prompt:`` begins the negative prompt, which runs
    until the parameter line. Each prompt line is stripped, as webui does.
    """
    *lines, last = text.strip().split("\n")
    if len(_RE_PARAM.findall(last)) < 3:
        lines.append(last)
        last = ""

    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    in_negative = False
    for raw in lines:
        line = raw.strip()
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[len("Negative prompt:") :].strip()
        (negative_lines if in_negative else prompt_lines).append(line)

    params: dict[str, str] = {}
    for key, raw_value in _RE_PARAM.findall(last):
        value = _unquote(raw_value.strip()) if raw_value.startswith('"') else raw_value
        params[key] = value
        m = _RE_IMAGESIZE.match(value)
        if m is not None:
            params[f"{key}-1"] = m.group(1)
            params[f"{key}-2"] = m.group(2)
    return Infotext(prompt="\n".join(prompt_lines), negative_prompt="\n".join(negative_lines), params=params)


def _value_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, tuple | list) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return f"{value[0]}x{value[1]}"
    return str(value)  # Python formatting: 7.0, True, 1234


def _quote(text: str) -> str:
    if "," not in text and ":" not in text and "\n" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def format_infotext(prompt: str, negative_prompt: str, params: Mapping[str, Any]) -> str:
    """Build an infotext like webui's ``create_infotext``.

    Keys follow ``PARAM_KEY_ORDER``, then other keys in insertion order, then ``Version`` and ``User``.
    None values are left out, values containing ``,`` ``:`` or a newline are JSON-quoted, numbers print the
    Python way (``7.0``). ``Size`` may be given as ``"512x768"`` or ``(512, 768)``, or as
    ``Size-1``/``Size-2``; the split ``X-1``/``X-2`` keys that ``parse_infotext`` adds are dropped when ``X``
    itself is present.
    """
    merged: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        if key.endswith(("-1", "-2")):
            base = key[:-2]
            if base in params and params[base] is not None:
                continue
            if key.endswith("-1") and f"{base}-2" in params:
                merged.setdefault(base, f"{value}x{params[f'{base}-2']}")
                continue
            if key.endswith("-2") and f"{base}-1" in params:
                continue
        merged[key] = value

    ordered: list[str] = [k for k in PARAM_KEY_ORDER if k in merged]
    ordered += [k for k in merged if k not in PARAM_KEY_ORDER and k not in _TRAILING_KEYS]
    ordered += [k for k in _TRAILING_KEYS if k in merged]
    line = ", ".join(f"{k}: {_quote(_value_text(merged[k]))}" for k in ordered)

    negative = f"\nNegative prompt: {negative_prompt}" if negative_prompt else ""
    return f"{prompt}{negative}\n{line}".strip()


# --------------------------------------------------------------------------------------------------
# Off the event loop

_MAX_PARALLEL = 2  # files parsed at once per event loop (each parse is bounded, but still CPU)
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _slot() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    sem = _slots.get(loop)
    if sem is None:
        sem = _slots[loop] = asyncio.Semaphore(_MAX_PARALLEL)
    return sem


async def read_parameters(data: bytes) -> str | None:
    """:func:`png_parameters` in a worker thread, a few files at a time: for images people upload."""
    async with _slot():
        return await asyncio.to_thread(png_parameters, data)


async def parse_infotext_async(text: str) -> Infotext:
    """:func:`parse_infotext` in a worker thread, a few at a time: for infotexts read from uploads."""
    async with _slot():
        return await asyncio.to_thread(parse_infotext, text)
