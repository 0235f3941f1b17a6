"""Infotext ("generation parameters") parsing and formatting, and PNG text chunk reading.

The webui writes the infotext of every image into a PNG text chunk named ``parameters`` and into
``info.infotexts``. The format (more in docs/infotext.md)::

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
from collections.abc import Collection, Mapping
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

# What a PNG's text chunks may inflate to, in all, per file (guards against zlib bombs and against many
# compressed chunks each inflating to a per-chunk cap). A real infotext is under 20 KB.
MAX_TEXT_BYTES = 4 * 1024 * 1024  # read_png_text: every keyword
MAX_PARAMETERS_BYTES = 256 * 1024  # png_parameters: the `parameters` chunks only

# An infotext longer than this is not one the webui wrote: only this much is parsed.
MAX_INFOTEXT_CHARS = 64 * 1024

# The parameter line is scanned in linear time (see _param_pairs); these pieces never backtrack far.
_KEY_AT = re.compile(r"\s*(\w[\w \-/]*)")  # optional blanks, then the longest run of key characters
_BLANKS = re.compile(r"\s*")
_QUOTED = re.compile(r'"(?:\\.|[^\\"])+"')
_UNQUOTED = re.compile(r"[^,]*")
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


class _Budget:
    """Bytes a file's compressed text chunks may still inflate to (uncompressed text is bounded by the file)."""

    def __init__(self, total: int) -> None:
        self.left = total

    def take(self, n: int) -> None:
        if n > self.left:
            self.left = 0
            raise ValueError("text chunks too large")
        self.left -= n

    def inflate(self, data: bytes) -> bytes:
        if self.left <= 0:
            raise ValueError("the file's text budget is spent")
        d = zlib.decompressobj()
        out = d.decompress(data, self.left + 1)  # work is bounded by the output, not by the input
        self.take(len(out))
        if d.unconsumed_tail:
            raise ValueError("text chunk too large")
        return out


def _decode_text_chunk(ctype: bytes, body: bytes, budget: _Budget) -> tuple[str, str] | None:
    key_raw, sep, rest = body.partition(b"\x00")
    if not sep or not key_raw:
        return None
    key = key_raw.decode("latin-1")
    if ctype == b"tEXt":
        return key, rest.decode("latin-1")
    if ctype == b"zTXt":
        if not rest or rest[0] != 0:  # compression method 0 = zlib, the only one defined
            return None
        return key, budget.inflate(rest[1:]).decode("latin-1")
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
        text = budget.inflate(text)
    return key, text.decode("utf-8", errors="replace")


def _keyword(body: memoryview) -> bytes:
    """The keyword of a text chunk (at most 79 bytes before the NUL), read without copying the chunk."""
    head = bytes(body[:80])
    return head.partition(b"\x00")[0]


def read_png_text(
    data: bytes, keys: Collection[str] | None = None, *, max_bytes: int = MAX_TEXT_BYTES
) -> dict[str, str]:
    """Return the tEXt / zTXt / iTXt entries of a PNG, keyword -> text, without decoding pixels.

    ``keys``: read only these keywords; other chunks are skipped before anything is inflated. ``max_bytes``: the
    compressed chunks read may inflate to this much in all; a chunk past it is skipped, and so are the compressed
    chunks after it (uncompressed ones are still read: they are no bigger than the file).
    Returns ``{}`` for data that is not a PNG. A truncated file yields whatever was read before the cut.
    When a keyword repeats, the later chunk wins (as in Pillow's ``Image.info``).
    """
    if not data.startswith(PNG_SIGNATURE):
        return {}
    wanted = None if keys is None else {k.encode("latin-1", "replace") for k in keys}
    budget = _Budget(max_bytes)
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
            body = mv[body_start:body_end]
            if wanted is not None and _keyword(body) not in wanted:
                pos = body_end + 4
                continue
            try:
                entry = _decode_text_chunk(ctype, bytes(body), budget)
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
    """The infotext stored in a PNG's ``parameters`` chunk, or None. Other chunks are never inflated, and the
    ``parameters`` chunks together may inflate to at most :data:`MAX_PARAMETERS_BYTES`."""
    return read_png_text(data, ("parameters",), max_bytes=MAX_PARAMETERS_BYTES).get("parameters")


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


def _param_pairs(line: str) -> list[tuple[str, str]]:
    """The ``key: value`` pairs of a parameter line, as the webui's pattern finds them, in time linear in the line.

    A key is the longest run of key characters (word characters, space, ``-``, ``/``) after optional blanks; as
    ``:`` is not a key character, only that run can be followed by the colon, so when it is not, no start inside the
    run can match either and the scan resumes at the run's end instead of one character later.
    """
    pairs: list[tuple[str, str]] = []
    pos, n = 0, len(line)
    while pos < n:
        m = _KEY_AT.match(line, pos)
        if m is None:  # blanks, then something that can't start a key
            pos = _BLANKS.match(line, pos).end() + 1  # type: ignore[union-attr]
            continue
        key_start, key_end = m.span(1)
        if key_end - key_start < 2 or key_end >= n or line[key_end] != ":":
            pos = max(pos + 1, key_end)
            continue
        value_start = _BLANKS.match(line, key_end + 1).end()  # type: ignore[union-attr]
        quoted = _QUOTED.match(line, value_start) if line.startswith('"', value_start) else None
        if quoted is not None and (quoted.end() == n or line[quoted.end()] == ","):
            value, end = quoted.group(0), quoted.end()
        else:
            unquoted = _UNQUOTED.match(line, value_start)
            value, end = unquoted.group(0), unquoted.end()  # type: ignore[union-attr]
        pairs.append((m.group(1), value))
        pos = end + 1  # past the comma (or the end)
    return pairs


def parse_infotext(text: str) -> Infotext:
    """Parse an infotext the way webui's ``parse_generation_parameters`` does.

    The last line holds the parameters only when it has at least 3 ``key: value`` matches; otherwise it
    belongs to the prompt. A line starting with ``Negative prompt:`` begins the negative prompt, which runs
    until the parameter line. Each prompt line is stripped, as webui does. Only the first
    :data:`MAX_INFOTEXT_CHARS` characters are read; the work is linear in them.
    """
    *lines, last = text[:MAX_INFOTEXT_CHARS].strip().split("\n")
    pairs = _param_pairs(last)
    if len(pairs) < 3:
        lines.append(last)
        last = ""
        pairs = []

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
    for key, raw_value in pairs:
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
    """JSON-quote a value that has ``,`` ``:`` or a newline (as the webui does), and one that is itself wrapped in
    double quotes or has blanks at either end: the parser would drop those (the webui loses them; Easel keeps them)."""
    looks_quoted = len(text) >= 2 and text[0] == '"' and text[-1] == '"'
    padded = text != text.strip()  # the parser drops blanks around a bare value
    if "," not in text and ":" not in text and "\n" not in text and not looks_quoted and not padded:
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
