"""The one prompt rule no setting turns off: words about minors together with sexual content are never drawn.

The AI Horde enforces the same rule; Easel applies it to every way into the queue (``easel.admission``), in every
channel, age-restricted or not, and in DMs. The vocabulary is data (``easel/safety/data/minors.txt`` and
``sexual.txt``); this module only normalises text and looks the words up. See ``docs/safety.md`` for the rule as
server admins read it.

Matching, in one pass over bounded text (a prompt is at most a few thousand characters):

1. fold the text: compatibility forms (fullwidth, mathematical letters), case, accents and other combining marks,
   zero-width characters, and look-alike letters of other scripts (Cyrillic ``а``, Greek ``ο``) to Latin;
2. ages under 18 written out (``12 year old``, ``15yo``, ``16 y/o``, ``aged 9``, ``ten years old``) count as a word
   about minors;
3. the text is read without leetspeak (digits separate words: ``teen18``) and with it: in a word that has a letter,
   digits and a few symbols become letters (``s3xy``, ``k1d``, ``$ex``, ``n@ked``; ``1`` is tried as ``i`` and ``l``);
4. split into words; a run of single letters (``c h i l d``, ``c.h.i.l.d``) is joined (and, its word breaks being
   lost, searched for entries anywhere inside), and two or three neighbouring words are also tried joined
   (``pre teen``, ``ch ild``), never across a comma or a line break; a word of up to 24 letters is also tried as a
   word of each list run together (``nudekid``, ``teensex``);
5. the words of an innocent phrase (``innocent.txt``: "naked mole rat", "cum laude") are taken out;
6. a word matches an entry after runs of a repeated letter are cut to one (``seeexy``), for the text and the
   entries alike; an entry ending in ``*`` also matches words it starts.

Every step is linear in the length of the text (the regular expressions here have no nested repeats and are
anchored at a token or a digit): 1-4 ms per 1000 characters, so a text longer than :data:`THREAD_FROM` is
checked in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Final, NamedTuple

from easel.config import ZERO_WIDTH
from easel.context import RequestContext
from easel.errors import PolicyError
from easel.i18n import N_, _
from easel.metrics import METRICS, Metrics
from easel.safety import AdminNotice, NoticeKind, Notices, Notifier, log

__all__ = [
    "MINORS_SEXUAL",
    "REFUSED_MINORS_SEXUAL",
    "PromptGuard",
    "PromptVerdict",
    "WordList",
    "check_prompt",
    "fold",
    "innocent_phrases",
    "load_list",
    "screen",
    "word_lists",
]

MINORS_SEXUAL: Final = "minors_sexual"  # the rule's name in logs, admin notices and /metrics
REFUSED_MINORS_SEXUAL: Final = N_("This can't be drawn: Easel never draws sexual content involving minors.")

MAX_JOINED = 3  # neighbouring words tried joined ("pre teen" -> "preteen")
MAX_PHRASE = 3  # words in a phrase entry ("little girl")
MAX_COMPOUND = 24  # letters: a longer word is not tried as two run together ("kidporn")
THREAD_FROM = 200  # characters; a longer text is checked off the event loop

# Look-alike letters of other scripts (after case folding) -> the Latin letter they pass for.
_HOMOGLYPHS = str.maketrans(
    {
        # Cyrillic
        "а": "a", "в": "b", "е": "e", "ё": "e", "є": "e", "з": "3", "и": "u", "і": "i", "ї": "i", "ј": "j",
        "к": "k", "л": "n", "м": "m", "н": "h", "о": "o", "п": "n", "р": "p", "с": "c", "т": "t", "у": "y",
        "х": "x", "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ү": "y", "һ": "h", "ӏ": "l", "ь": "b", "г": "r",
        "д": "d", "ѵ": "v",
        # Armenian
        "ս": "u", "օ": "o", "ո": "n", "հ": "h", "ց": "g", "զ": "q",
        # Greek
        "α": "a", "β": "b", "γ": "y", "δ": "d", "ε": "e", "ζ": "z", "η": "n", "ι": "i", "κ": "k", "λ": "l",
        "μ": "u", "ν": "v", "ο": "o", "π": "n", "ρ": "p", "σ": "o", "ς": "s", "τ": "t", "υ": "u", "χ": "x",
        "ω": "w",
        # Latin letters that don't decompose into a base letter and a mark
        "ı": "i", "ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ŀ": "l", "ɡ": "g", "ɑ": "a", "ƅ": "b", "æ": "ae",
        "œ": "oe", "þ": "th",
    }
)  # fmt: skip

# Leetspeak: inside a word that has a letter, these stand for letters ("s3xy", "k1d", "$ex", "n@ked").
_LEET_I = str.maketrans({"0": "o", "1": "i", "2": "z", "3": "e", "4": "a", "5": "s", "6": "g", "7": "t", "8": "b",
                         "9": "g", "@": "a", "$": "s", "!": "i", "|": "l", "€": "e"})  # fmt: skip
_LEET_L = {**_LEET_I, ord("1"): "l", ord("!"): "l", ord("|"): "i"}
_LEET_RUN = re.compile(r"[a-z0-9@$!|€]+")  # one class, no nested repeat: linear
_LETTER = re.compile(r"[a-z]")
_LEET_SIGN = re.compile(r"[0-9@$!|€]")
_EDGE = "!|"  # at the start or end of a word, punctuation ("sexy!"), not a letter

_WORD = re.compile(r"[a-z0-9]+")
_LETTERS = re.compile(r"[a-z]+")  # the reading without leetspeak: digits separate words ("teen18", "1girl")
_TIGHT = re.compile(r"[ \t._\-*~'`/+]{1,3}")  # what may separate the parts of one word ("c.h.i.l.d", "pre-teen")
_REPEAT = re.compile(r"([a-z])\1+")

_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen"
)
_AGE = re.compile(
    rf"(?<![0-9])(?:1[0-7]|[1-9])[\s_-]*(?:y/?o|y\.o\.?|yrs?[\s_-]*old|years?[\s_-]*old)(?![a-z])"
    rf"|(?<![a-z])(?:{_NUMBER_WORDS})[\s_-]*(?:yrs?|years?)[\s_-]*old(?![a-z])"
    rf"|(?<![a-z])aged?[\s_-]*(?:1[0-7]|[1-9])(?![0-9])"
)


def fold(text: str) -> str:
    """Case, compatibility forms, accents and combining marks, zero-width characters and look-alike letters
    folded: ``"Ｃｈіｌｄ́"`` -> ``"child"``. Linear in the length of ``text``."""
    text = unicodedata.normalize("NFKC", ZERO_WIDTH.sub("", text)).casefold()
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return text.translate(_HOMOGLYPHS)


def _collapse(word: str) -> str:
    return _REPEAT.sub(_first, word)


def _first(m: re.Match[str]) -> str:
    return m.group(1)


def _leet(text: str, table: dict[int, str]) -> str:
    def one(m: re.Match[str]) -> str:
        run = m.group(0)
        core = run.strip(_EDGE)
        if not core or _LETTER.search(core) is None:
            return run  # a number, or punctuation
        start = run.index(core[0])
        return run[:start] + core.translate(table) + run[start + len(core) :]

    return _LEET_RUN.sub(one, text)


class _Token(NamedTuple):
    word: str  # collapsed ("seeexy" -> "sexy")
    raw: str  # as written (after folding), for entries shorter than 3 letters once collapsed
    tight: bool  # the separator before the next token is tight (part of the same word)
    spaced: bool = False  # joined from single letters ("c h i l d n u d e"): words are looked for inside it


def _tokens(text: str, word: re.Pattern[str] = _WORD) -> list[_Token]:
    out: list[_Token] = []
    matches = list(word.finditer(text))
    for i, m in enumerate(matches):
        gap = text[m.end() : matches[i + 1].start()] if i + 1 < len(matches) else ""
        word = m.group(0)
        out.append(_Token(_collapse(word), word, bool(gap) and _TIGHT.fullmatch(gap) is not None))
    return _join_letters(out)


def _join_letters(tokens: list[_Token]) -> list[_Token]:
    """A run of 3+ single letters with tight separators becomes one word ("s e x" -> "sex")."""
    out: list[_Token] = []
    i = 0
    while i < len(tokens):
        j = i
        while j < len(tokens) and len(tokens[j].raw) == 1 and (j == i or tokens[j - 1].tight):
            j += 1
        if j - i >= 3:
            raw = "".join(t.raw for t in tokens[i:j])
            out.append(_Token(_collapse(raw), raw, tokens[j - 1].tight, spaced=True))
            i = j
        else:
            out.append(tokens[i])
            i += 1
    return out


@dataclass(frozen=True)
class WordList:
    """One vocabulary: whole words, word prefixes (``child*``) and phrases (``little girl``), all folded and
    collapsed the way text is."""

    name: str
    words: frozenset[str]
    short: frozenset[str]  # entries of fewer than 3 letters once collapsed: matched as written
    prefixes: re.Pattern[str] | None
    phrases: frozenset[tuple[str, ...]]
    starts: frozenset[str]  # the first words of the phrases
    inside: re.Pattern[str] | None  # every word and prefix, searched inside a spaced-out run of letters

    @classmethod
    def parse(cls, name: str, lines: Iterable[str]) -> WordList:
        words: set[str] = set()
        short: set[str] = set()
        prefixes: set[str] = set()
        phrases: set[tuple[str, ...]] = set()
        for line in lines:
            entry = line.split("#", 1)[0].strip()
            if not entry:
                continue
            star = entry.endswith("*")
            parts = [t.word for t in _tokens(fold(entry.rstrip("*")))]
            if not parts or len(parts) > MAX_PHRASE or (star and len(parts) > 1):
                raise ValueError(f"{name}: bad entry {entry!r} (a word, word* or a phrase of up to {MAX_PHRASE})")
            if len(parts) > 1:
                phrases.add(tuple(parts))
            elif star:
                prefixes.add(parts[0])
            elif len(parts[0]) < 3:
                short.add(fold(entry))
            else:
                words.add(parts[0])
        alternation = "|".join(re.escape(p) for p in sorted(prefixes, key=len, reverse=True))
        return cls(
            name,
            frozenset(words),
            frozenset(short),
            re.compile(alternation) if alternation else None,
            frozenset(phrases),
            frozenset(p[0] for p in phrases),
            re.compile("|".join(re.escape(w) for w in sorted(words | prefixes, key=len, reverse=True)) or "(?!)"),
        )

    @property
    def entries(self) -> int:
        return (
            len(self.words)
            + len(self.short)
            + len(self.phrases)
            + (len(self.prefixes.pattern.split("|")) if self.prefixes else 0)
        )

    def has_word(self, word: str, raw: str = "") -> bool:
        if word in self.words or (raw or word) in self.short:
            return True
        return self.prefixes is not None and self.prefixes.match(word) is not None

    def has_inside(self, run: str) -> bool:
        """A word or prefix anywhere in ``run`` (a spaced-out run of letters, where the word breaks are lost)."""
        return self.inside is not None and self.inside.search(run) is not None

    def has_phrase(self, words: Sequence[str]) -> bool:
        return tuple(words) in self.phrases


def load_list(name: str) -> WordList:
    """``easel/safety/data/<name>.txt`` parsed (raises ValueError on a bad entry)."""
    text = resources.files("easel.safety").joinpath("data", f"{name}.txt").read_text(encoding="utf-8")
    return WordList.parse(name, text.splitlines())


@cache
def word_lists() -> tuple[WordList, WordList]:
    """(minors, sexual), loaded once."""
    return load_list("minors"), load_list("sexual")


@cache
def innocent_phrases() -> frozenset[tuple[str, ...]]:
    """``innocent.txt``: phrases such as "naked mole rat" whose words are taken out before the look-ups."""
    lists = load_list("innocent")
    if lists.words or lists.short or lists.prefixes is not None:
        raise ValueError("innocent: only phrases of two or three words")
    return lists.phrases


def _mask(tokens: list[_Token], innocent: frozenset[tuple[str, ...]]) -> list[_Token]:
    """The words of an innocent phrase blanked (they match nothing, and nothing is joined across them)."""
    if not innocent:
        return tokens
    out = list(tokens)
    starts = {p[0] for p in innocent}
    for i in range(len(tokens)):
        if tokens[i].word not in starts:
            continue
        for n in range(MAX_PHRASE, 1, -1):
            if tuple(t.word for t in tokens[i : i + n]) in innocent:
                out[i : i + n] = [_Token("", "", False)] * n
                break
    return out


def _candidates(tokens: list[_Token]) -> Iterator[tuple[str, str]]:
    """Each word, and two or three neighbouring words joined when only tight separators are between them."""
    for i, tok in enumerate(tokens):
        yield tok.word, tok.raw
        raw = tok.raw
        for j in range(i + 1, min(i + MAX_JOINED, len(tokens))):
            if not tokens[j - 1].tight:
                break
            raw += tokens[j].raw
            yield _collapse(raw), raw


def _compound(word: str, minors: WordList, sexual: WordList) -> tuple[int, bool]:
    """(look-ups made, whether ``word`` is a word of one list run together with a word of the other: "nudekid",
    "teensex"). Only both halves together count: "kidney" is not "kid"."""
    if not 6 <= len(word) <= MAX_COMPOUND:
        return 0, False
    if not (minors.has_inside(word) and sexual.has_inside(word)):
        return 2, False
    lookups = 2
    for k in range(3, len(word) - 2):
        head, tail = word[:k], word[k:]
        lookups += 1
        if (minors.has_word(head) and sexual.has_word(tail)) or (sexual.has_word(head) and minors.has_word(tail)):
            return lookups, True
    return lookups, False


def _phrases(tokens: list[_Token], starts: frozenset[str]) -> Iterator[tuple[str, ...]]:
    for i in range(len(tokens)):
        if tokens[i].word not in starts:
            continue
        for n in range(2, MAX_PHRASE + 1):
            if i + n <= len(tokens):
                yield tuple(t.word for t in tokens[i : i + n])


@dataclass(frozen=True)
class PromptVerdict:
    """What the rule found: ``rule`` is None when the prompt may be drawn. ``lookups`` counts the dictionary and
    prefix look-ups made (the work done, for tests of the cost); the matched words are never kept."""

    rule: str | None
    minors: bool
    sexual: bool
    lookups: int

    @property
    def refused(self) -> bool:
        return self.rule is not None


def check_prompt(
    text: str,
    lists: tuple[WordList, WordList] | None = None,
    innocent: frozenset[tuple[str, ...]] | None = None,
) -> PromptVerdict:
    """The rule on one text (a prompt, or Remix text): refused when it has both a word about minors and a word
    about sexual content (outside the innocent phrases). Never raises on any string."""
    minors_list, sexual_list = lists or word_lists()
    innocent = innocent_phrases() if innocent is None else innocent
    starts = minors_list.starts | sexual_list.starts
    base = fold(text)
    minors = _AGE.search(base) is not None
    sexual = False
    lookups = 0
    readings = [_tokens(base, _LETTERS)]
    if _LEET_SIGN.search(base):
        readings.append(_tokens(_leet(base, _LEET_I)))
    if any(c in base for c in "1!|"):
        readings.append(_tokens(_leet(base, _LEET_L)))  # the other reading of "1"
    for tokens in (_mask(r, innocent) for r in readings):
        for tok in tokens:
            if tok.spaced:
                lookups += 1
                minors = minors or minors_list.has_inside(tok.word)
                sexual = sexual or sexual_list.has_inside(tok.word)
            else:
                work, both = _compound(tok.word, minors_list, sexual_list)
                lookups += work
                minors, sexual = minors or both, sexual or both
        for word, raw in _candidates(tokens):
            lookups += 1
            minors = minors or minors_list.has_word(word, raw)
            sexual = sexual or sexual_list.has_word(word, raw)
            if minors and sexual:
                return PromptVerdict(MINORS_SEXUAL, True, True, lookups)
        for phrase in _phrases(tokens, starts):
            lookups += 1
            minors = minors or minors_list.has_phrase(phrase)
            sexual = sexual or sexual_list.has_phrase(phrase)
            if minors and sexual:
                return PromptVerdict(MINORS_SEXUAL, True, True, lookups)
    return PromptVerdict(None, minors, sexual, lookups)


async def screen(text: str) -> PromptVerdict:
    """:func:`check_prompt`, in a worker thread when the text is long enough to cost a millisecond."""
    if len(text) > THREAD_FROM:
        return await asyncio.to_thread(check_prompt, text)
    return check_prompt(text)


class PromptGuard:
    """The rule as the admission applies it: refuse with one line that names no word, log it for the server's
    admins (logger ``easel.safety``: guild, channel, user, rule; never the text), count it in /metrics and tell
    the server's log channel through the notifier (in the background: the refusal doesn't wait for Discord)."""

    def __init__(self, notifier: Notifier | None = None, *, metrics: Metrics = METRICS) -> None:
        self.notices = Notices(notifier)
        self.metrics = metrics

    async def check(self, ctx: RequestContext, prompt: str) -> None:
        """Raises PolicyError (:data:`REFUSED_MINORS_SEXUAL`) when ``prompt`` must not be drawn."""
        verdict = await screen(prompt)
        if verdict.rule is None:
            return
        log.info(
            "safety: refused an ask of user %s in guild %s channel %s: rule %s (nothing queued)",
            ctx.user_id,
            ctx.guild_id,
            ctx.channel_id,
            verdict.rule,
        )
        self.metrics.count_refusal(verdict.rule)
        self.notices.send(
            ctx.guild_id, AdminNotice(NoticeKind.PROMPT_REFUSED, verdict.rule, ctx.user_id, ctx.channel_id)
        )
        raise PolicyError(_(REFUSED_MINORS_SEXUAL))

    async def drain(self) -> None:
        """Wait for the notices still being sent (shutdown, tests)."""
        await self.notices.drain()
