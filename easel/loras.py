"""LoRAs: what a user writes (``/draw lora:`` and ``<lora:name:weight>`` tags in the prompt), what the backends have,
and the rules a server sets. Pure: no I/O, no Discord (the catalog hands in what the backends listed).

- :func:`parse_spec` reads the option: ``name``, ``name:weight`` and several comma-separated (``a:0.8, b:0.5``).
- :func:`extract_tags` takes the ``<lora:name:weight>`` tags out of a prompt (they are put back by the payload).
- :func:`resolve` matches a typed name against the backends' LoRAs (name, alias, case-insensitively); unknown names
  are refused with the closest names (:func:`close_names`).
- :func:`add_triggers` adds a LoRA's trigger words (its activation text, or the admin's ``[loras.<name>] trigger``)
  to a prompt once.
- :func:`complete` is the autocomplete of the option: the items before the last are kept, the last is completed.
- :func:`check_rules` applies a server's allow-list, block-list and maximum.

More in docs/loras.md.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from easel.errors import PolicyError, RequestError
from easel.i18n import _
from easel.options import LORA_WEIGHT_MAX, LORA_WEIGHT_MIN

__all__ = [
    "MAX_ITEMS",
    "LoraInfo",
    "LoraRef",
    "add_triggers",
    "check_rules",
    "close_names",
    "complete",
    "extract_tags",
    "format_spec",
    "format_tags",
    "lora_info_from_api",
    "merge",
    "parse_spec",
    "parse_weight",
]

MAX_ITEMS = 20  # LoRAs one request may name at all (a server's max_loras is usually far lower)
MAX_NAME = 200


@dataclass(frozen=True)
class LoraRef:
    """One LoRA of a request: its name as the webui lists it (``<lora:name:weight>``) and the weight."""

    name: str
    weight: float


@dataclass(frozen=True)
class LoraInfo:
    """One LoRA a backend has: ``name`` (the file stem used in tags), ``alias`` (metadata ``ss_output_name``, or the
    name) and ``activation`` (its trigger words from the metadata, "" when it has none)."""

    name: str
    alias: str = ""
    activation: str = ""

    def matches(self, text: str) -> bool:
        low = text.strip().casefold()
        return low in (self.name.casefold(), self.alias.casefold())


class LoraError(RequestError):
    """A bad ``lora`` value or tag: the message is one line that says what to change."""


def _weight_text(weight: float) -> str:
    return f"{weight:g}"


def parse_weight(text: str, name: str) -> float:
    """``text`` as a LoRA weight in −2..2, or LoraError."""
    try:
        weight = float(text)
    except ValueError:
        raise LoraError(
            _("The weight of LoRA {name} must be a number (got {text}).").format(name=_show(name), text=_show(text))
        ) from None
    if not math.isfinite(weight) or not LORA_WEIGHT_MIN <= weight <= LORA_WEIGHT_MAX:
        raise LoraError(
            _("The weight of LoRA {name} must be between {low:g} and {high:g} (got {text}).").format(
                name=_show(name), low=LORA_WEIGHT_MIN, high=LORA_WEIGHT_MAX, text=_show(text)
            )
        )
    return weight + 0.0  # -0.0 is 0


def _show(text: str, limit: int = 40) -> str:
    text = " ".join(str(text).split()).replace("`", "'")
    return text if len(text) <= limit else text[: limit - 1] + "…"


_WRAPPED = re.compile(r"^<\s*lora\s*:(.*)>$", re.IGNORECASE | re.DOTALL)


def _split_item(item: str) -> tuple[str, str | None]:
    """``"name:0.8"`` → ("name", "0.8"); ``"name"`` → ("name", None). A name may hold ":" when no weight follows."""
    wrapped = _WRAPPED.match(item)
    if wrapped:
        item = wrapped.group(1)
    name, sep, tail = item.rpartition(":")
    if sep and name.strip():
        try:
            float(tail)
        except ValueError:
            pass
        else:
            return name.strip(), tail.strip()
        if not tail.strip():  # "name:" while typing: no weight yet
            return name.strip(), None
    return item.strip(), None


def parse_spec(text: str, default_weight: float) -> tuple[LoraRef, ...]:
    """What the ``lora`` option says: ``name``, ``name:weight``, several comma-separated. Names are as typed (see
    :func:`resolve`); the same name twice keeps the last weight. Raises LoraError."""
    refs: dict[str, LoraRef] = {}
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        name, weight_text = _split_item(item)
        if not name or len(name) > MAX_NAME or any(c in name for c in "<>\n"):
            raise LoraError(_("{item} is not a LoRA name: write name or name:weight.").format(item=_show(item)))
        weight = default_weight if weight_text is None else parse_weight(weight_text, name)
        refs.pop(name.casefold(), None)
        refs[name.casefold()] = LoraRef(name, weight)
    if len(refs) > MAX_ITEMS:
        raise LoraError(_("At most {n} LoRAs in one request.").format(n=MAX_ITEMS))
    return tuple(refs.values())


_TAG = re.compile(r"<\s*lora\s*:([^<>\n]*)>", re.IGNORECASE)


def extract_tags(prompt: str, default_weight: float) -> tuple[str, tuple[LoraRef, ...]]:
    """The prompt without its ``<lora:name>``/``<lora:name:weight>`` tags, and those tags' LoRAs. A tag with more
    fields (``<lora:name:0.8:0.5>``) is refused: Easel writes one weight. Raises LoraError."""
    refs: list[LoraRef] = []

    def take(m: re.Match[str]) -> str:
        body = m.group(1)
        parts = body.split(":")
        name = parts[0].strip()
        if not name or len(parts) > 2:
            raise LoraError(_("Write LoRA tags as <lora:name:weight> (got {tag}).").format(tag=_show(m.group(0), 60)))
        weight = default_weight if len(parts) == 1 or not parts[1].strip() else parse_weight(parts[1].strip(), name)
        refs.append(LoraRef(name, weight))
        return " "

    rest = _TAG.sub(take, prompt)
    if refs:
        rest = re.sub(r"[ \t]{2,}", " ", rest)
        rest = re.sub(r"[ \t]+,", ",", rest)
        rest = re.sub(r",(\s*,)+", ",", rest).strip(" \t,")
    return rest, tuple(refs)


def merge(*groups: Iterable[LoraRef]) -> tuple[LoraRef, ...]:
    """The LoRAs of several sources in order; a name given again (case-insensitively) keeps its later weight."""
    out: dict[str, LoraRef] = {}
    for group in groups:
        for ref in group:
            out.pop(ref.name.casefold(), None)
            out[ref.name.casefold()] = ref
    return tuple(out.values())


def format_tags(refs: Sequence[LoraRef]) -> str:
    """``<lora:a:0.8> <lora:b:0.5>``: what the webui reads in the prompt."""
    return " ".join(f"<lora:{r.name}:{_weight_text(r.weight)}>" for r in refs)


def format_spec(refs: Sequence[LoraRef]) -> str:
    """``a:0.8, b:0.5``: the ``lora`` option that gives these LoRAs back."""
    return ", ".join(f"{r.name}:{_weight_text(r.weight)}" for r in refs)


def close_names(name: str, infos: Iterable[LoraInfo], n: int = 3) -> list[str]:
    """The LoRA names most like ``name`` (by name or alias), best first."""
    by_key: dict[str, str] = {}
    for info in infos:
        by_key.setdefault(info.name.casefold(), info.name)
        if info.alias:
            by_key.setdefault(info.alias.casefold(), info.name)
    hits = difflib.get_close_matches(name.casefold(), list(by_key), n=n * 2, cutoff=0.5)
    # A name that contains what was typed is close too (difflib misses short parts of long names).
    low = name.casefold()
    hits += [k for k in by_key if low and low in k and k not in hits]
    return list(dict.fromkeys(by_key[h] for h in hits))[:n]


def resolve(refs: Sequence[LoraRef], infos: Sequence[LoraInfo]) -> tuple[LoraRef, ...]:
    """Each LoRA under the name the backends list it by (matched on name or alias, case-insensitively). An unknown
    one is refused with the closest names."""
    out: list[LoraRef] = []
    for ref in refs:
        info = next((i for i in infos if i.name.casefold() == ref.name.strip().casefold()), None)
        info = info or next((i for i in infos if i.matches(ref.name)), None)
        if info is None:
            close = close_names(ref.name, infos)
            if close:
                raise LoraError(
                    _("No image server has the LoRA {name}; close names: {close}.").format(
                        name=_show(ref.name), close=", ".join(_show(c) for c in close)
                    )
                )
            raise LoraError(
                _("No image server has the LoRA {name}: pick one from the list.").format(name=_show(ref.name))
            )
        out.append(LoraRef(info.name, ref.weight))
    return merge(out)


def _has_phrase(prompt: str, phrase: str) -> bool:
    words = [re.escape(w) for w in phrase.split()]
    if not words:
        return True
    pattern = r"(?<![^\W_])" + r"\s+".join(words) + r"(?![^\W_])"
    return re.search(pattern, prompt, re.IGNORECASE) is not None


def add_triggers(prompt: str, triggers: Iterable[str]) -> str:
    """``prompt`` with each trigger (comma-separated words) added at the end once: a trigger part that is already in
    the prompt (as whole words, case-insensitively) is not written again."""
    out = prompt
    for trigger in triggers:
        for part in trigger.split(","):
            part = " ".join(part.split())
            if part and not _has_phrase(out, part):
                out = f"{out}, {part}" if out.strip() else part
    return out


def check_rules(
    refs: Sequence[LoraRef], *, allow: Sequence[str] = (), block: Sequence[str] = (), max_loras: int | None = None
) -> None:
    """A server's rules: at most ``max_loras`` LoRAs, only names in ``allow`` (when it has any), none in ``block``.
    Raises PolicyError (one line)."""
    if max_loras is not None and len(refs) > max_loras:
        raise PolicyError(
            _("This server allows at most {n} LoRA(s) per request (you asked for {m}).").format(
                n=max_loras, m=len(refs)
            )
        )
    allowed = {a.casefold() for a in allow}
    blocked = {b.casefold() for b in block}
    for ref in refs:
        low = ref.name.casefold()
        if low in blocked or (allowed and low not in allowed):
            raise PolicyError(_("The LoRA {name} isn't allowed on this server.").format(name=_show(ref.name)))


# ---- what the webui lists ----------------------------------------------------------------------------------------

_ACTIVATION_KEYS = ("activation text", "activation_text", "modelspec.trigger_phrase", "ss_activation_text")


def _top_tag(frequency: Any) -> str:
    """The most frequent training tag (``ss_tag_frequency``: a JSON text of ``{dataset: {tag: count}}``)."""
    if isinstance(frequency, str):
        try:
            frequency = json.loads(frequency)
        except ValueError:
            return ""
    if not isinstance(frequency, Mapping):
        return ""
    counts: dict[str, float] = {}
    for tags in frequency.values():
        if not isinstance(tags, Mapping):
            continue
        for tag, count in tags.items():
            if isinstance(tag, str) and isinstance(count, int | float) and not isinstance(count, bool):
                counts[tag.strip()] = counts.get(tag.strip(), 0) + count
    counts.pop("", None)
    if not counts:
        return ""
    return max(counts.items(), key=lambda kv: (kv[1], -len(kv[0])))[0]


def lora_info_from_api(item: Any) -> LoraInfo | None:
    """One item of ``GET /sdapi/v1/loras`` (``{name, alias, path, metadata}``), or None when it has no name. The
    activation text is the metadata's ``activation text`` (or ``modelspec.trigger_phrase``), else its most frequent
    training tag (``ss_tag_frequency``)."""
    if not isinstance(item, Mapping):
        return None
    name = item.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME or any(c in name for c in ",<>\n"):
        return None  # a name that can't be written in the option or a tag
    alias = item.get("alias")
    meta = item.get("metadata")
    activation = ""
    if isinstance(meta, Mapping):
        for key in _ACTIVATION_KEYS:
            value = meta.get(key)
            if isinstance(value, str) and value.strip():
                activation = value
                break
        else:
            activation = _top_tag(meta.get("ss_tag_frequency"))
    activation = " ".join(activation.replace("<", " ").replace(">", " ").split())[:200]
    return LoraInfo(name=name.strip(), alias=alias.strip() if isinstance(alias, str) else "", activation=activation)


# ---- autocomplete -------------------------------------------------------------------------------------------------


def complete(current: str, infos: Sequence[LoraInfo], limit: int = 25) -> list[tuple[str, str]]:
    """Choices ``(label, value)`` for what is typed so far: the items before the last comma are kept as typed, the
    last is completed from the LoRAs whose name or alias contains it (prefix matches first), its weight kept when one
    is typed. Labels show the activation text; both fit Discord's 100 characters."""
    head, sep, last = current.rpartition(",")
    kept = [i.strip() for i in head.split(",") if i.strip()] if sep else []
    name, weight = _split_item(last.strip()) if last.strip() else ("", None)
    low = name.casefold()
    taken = {_split_item(k)[0].casefold() for k in kept}
    hits = [
        i for i in infos if i.name.casefold() not in taken and (low in i.name.casefold() or low in i.alias.casefold())
    ]
    hits.sort(key=lambda i: (not i.name.casefold().startswith(low), i.name.casefold()))
    prefix = ", ".join(kept)
    out: list[tuple[str, str]] = []
    for info in hits:
        item = info.name if weight is None else f"{info.name}:{weight}"
        value = f"{prefix}, {item}" if prefix else item
        if len(value) > 100:
            continue
        label = value
        if info.activation:
            label = f"{value} — {info.activation}"
        out.append((label[:99] + "…" if len(label) > 100 else label, value))
        if len(out) >= limit:
            break
    return out
