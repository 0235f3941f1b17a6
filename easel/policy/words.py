"""Word and pattern matching for the content rules: banned words, strip words, extra-network tags.

An entry is a whole word or phrase matched case-insensitively on normalised text (see
:func:`easel.config.normalise`), or ``re:`` + a regular expression checked for cost when it was set.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from easel.config import ZERO_WIDTH, check_entry, normalise

__all__ = ["ZERO_WIDTH", "check_entry", "matcher", "normalise", "strip_extra_networks", "strip_patterns"]

log = logging.getLogger(__name__)

_NOT_ALNUM = r"[^\W_]"  # a letter or digit; "_" and punctuation separate words ("bad_word" has "bad")


@dataclass(frozen=True)
class _Matcher:
    words: re.Pattern[str] | None
    patterns: tuple[tuple[str, re.Pattern[str]], ...]

    def find(self, text: str) -> str | None:
        """The entry that matches ``text`` (normalised), or None."""
        if self.words is not None:
            m = self.words.search(text)
            if m:
                return m.group(0)
        for entry, pattern in self.patterns:
            if pattern.search(text):
                return entry
        return None


def _word_regex(word: str) -> str:
    parts = [re.escape(p) for p in re.split(r"[\s_]+", word) if p]
    return r"[\s_]+".join(parts)


@lru_cache(maxsize=1024)
def matcher(entries: tuple[str, ...]) -> _Matcher:
    words = [e for e in entries if not e.lower().startswith("re:")]
    words_re = None
    if words:
        alternation = "|".join(_word_regex(w) for w in sorted(set(words), key=len, reverse=True))
        words_re = re.compile(rf"(?<!{_NOT_ALNUM})(?:{alternation})(?!{_NOT_ALNUM})", re.IGNORECASE)
    patterns = []
    for e in entries:
        if e.lower().startswith("re:"):
            try:
                patterns.append((e, re.compile(e[3:], re.IGNORECASE)))
            except re.error:  # validated on the way in; a stored bad one is skipped
                log.warning("policy: skipping bad pattern %r", e)
    return _Matcher(words_re, tuple(patterns))


def strip_patterns(entries: tuple[str, ...]) -> list[re.Pattern[str]]:
    out = []
    m = matcher(entries)
    if m.words is not None:
        out.append(m.words)
    out.extend(p for _, p in m.patterns)
    return out


_EXTRA_NETWORK = re.compile(r"<\s*[A-Za-z][\w-]*\s*:[^<>\n]*>")


def strip_extra_networks(text: str) -> str:
    """Remove ``<lora:name:0.8>``, ``<lyco:…>``, ``<hypernet:…>`` and any other ``<kind:…>`` extra-network tag."""
    return tidy(_EXTRA_NETWORK.sub(" ", text))


def tidy(text: str) -> str:
    """Collapse the gaps left by removed words: double spaces, empty comma-separated items."""
    text = re.sub(r"[ \t]{2,}", " ", text)
    text = re.sub(r"[ \t]+,", ",", text)
    text = re.sub(r",(\s*,)+", ",", text)
    text = re.sub(r"\(\s*\)|\[\s*\]", "", text)
    return text.strip(" \t,")


def combine_prefix(prefixes: Sequence[str], negative: str) -> str:
    """Put each prefix at the start of ``negative`` unless it is already there."""
    low = negative.casefold()
    add = [p for p in dict.fromkeys(p.strip() for p in prefixes) if p and p.casefold() not in low]
    if not add:
        return negative
    return ", ".join([*add, negative] if negative else add)
