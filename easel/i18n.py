"""Translations: gettext message catalogs (``easel/locales/<lang>/LC_MESSAGES/easel.po``) read once at import.

Every user-facing string is written ``_("English text with {placeholders}")`` and formatted after the lookup:
``_("Queued at position {n}.").format(n=3)``. Module-level constants are marked ``N_("...")`` and looked up with
``_(CONST)`` where they are used. The language is the one of the current context: ``with use_locale("de"): ...``
around the code that answers a member (their ``interaction.locale``) or posts in a server (the server's
language). Tasks started inside the block inherit it (``contextvars``).

The ``.po`` files are parsed with Babel's pofile reader and compiled in memory (no ``.mo`` in the repository); a
missing or empty entry falls back to English. Discord's locale names (``de``, ``es-ES``, ``es-419``, ``pt-BR``,
``zh-CN``...) map to the catalogs by :func:`catalog_id`. How to add a language: ``docs/translating.md``.
"""

from __future__ import annotations

import contextlib
import contextvars
import gettext
import io
import logging
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

__all__ = [
    "DEFAULT_LOCALE",
    "LANGUAGES",
    "LOCALE_DIR",
    "N_",
    "_",
    "catalog_id",
    "current_locale",
    "format_number",
    "language_name",
    "ngettext",
    "translate",
    "use_locale",
]

log = logging.getLogger(__name__)

DEFAULT_LOCALE = "en-US"
LOCALE_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "easel"

# Discord locales that share a catalog with another name (``es-419`` reads the Spanish of Spain).
_ALIASES = {"es_419": "es_ES", "es": "es_ES", "pt": "pt_BR", "zh": "zh_CN", "zh_Hans": "zh_CN"}

_locale: contextvars.ContextVar[str] = contextvars.ContextVar("easel_locale", default=DEFAULT_LOCALE)


def _load() -> dict[str, gettext.NullTranslations]:
    """Every ``easel.po`` under LOCALE_DIR, compiled in memory (fuzzy entries are left out)."""
    found: dict[str, gettext.NullTranslations] = {}
    for po in sorted(LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        lang = po.parent.parent.name
        try:
            with po.open("rb") as f:
                catalog = read_po(f, locale=lang, domain=DOMAIN)
            buf = io.BytesIO()
            write_mo(buf, catalog)
            buf.seek(0)
            found[lang] = gettext.GNUTranslations(buf)
        except Exception as exc:  # a broken catalog must not stop the bot: that language falls back to English
            log.error("i18n: could not load %s: %s", po, exc)
    return found


def _listed() -> tuple[str, ...]:
    """The languages listed in ``easel/locales/LANGUAGES`` (one catalog id a line, ``#`` comments)."""
    try:
        text = (LOCALE_DIR / "LANGUAGES").read_text(encoding="utf-8")
    except OSError:
        return ()
    return tuple(line.split("#")[0].strip() for line in text.splitlines() if line.split("#")[0].strip())


_CATALOGS = _load()
_ENGLISH = gettext.NullTranslations()
# The shipped languages (catalog ids: "de", "es_ES", ...; English not included): those listed in LANGUAGES, whose
# catalogs are complete (a test checks it). Catalogs not listed yet still answer what they have.
LANGUAGES: tuple[str, ...] = tuple(lang for lang in _listed() if lang in _CATALOGS)


def catalog_id(locale: str | None) -> str | None:
    """The catalog for a Discord locale (``"de"``, ``"es-419"``, ``"pt-BR"``) or a catalog id; None: English."""
    if not locale:
        return None
    name = str(locale).replace("-", "_")
    if name in _CATALOGS:
        return name
    name = _ALIASES.get(name, name)
    if name in _CATALOGS:
        return name
    return None


def _translations(locale: str | None) -> gettext.NullTranslations:
    cid = catalog_id(locale)
    return _CATALOGS[cid] if cid is not None else _ENGLISH


def current_locale() -> str:
    return _locale.get()


@contextlib.contextmanager
def use_locale(locale: str | None) -> Iterator[None]:
    token = _locale.set(str(locale) if locale else DEFAULT_LOCALE)
    try:
        yield
    finally:
        _locale.reset(token)


def set_locale(locale: str | None) -> None:
    """Set the language for the rest of the current task (an interaction's handler task); prefer
    :func:`use_locale` where a block fits."""
    _locale.set(str(locale) if locale else DEFAULT_LOCALE)


def _(message: str) -> str:
    """``message`` in the current locale (English when the catalog has no entry for it)."""
    return _translations(_locale.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The plural form of a message for ``n`` in the current locale (format ``{n}`` after the lookup)."""
    return _translations(_locale.get()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it now (module-level constants)."""
    return message


def translate(message: str, locale: str | None) -> str | None:
    """``message`` in ``locale``, or None when that catalog has no translation (the command translator's
    lookup: Discord then shows the English text)."""
    cid = catalog_id(locale)
    if cid is None:
        return None
    text = _CATALOGS[cid].gettext(message)
    return text if text != message else None


# ---- numbers and durations --------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _babel_locale(locale: str) -> Locale:
    try:
        return Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en_US")


def format_number(value: float, digits: int | None = None) -> str:
    """``value`` with the current locale's separators (``1,048,576`` / ``1.048.576``); ``digits``: exactly that
    many decimals."""
    fmt = None if digits is None else "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=fmt, locale=_babel_locale(current_locale()))


def language_name(cid: str) -> str:
    """A catalog's language in that language ("Deutsch", "español (España)")."""
    loc = _babel_locale(cid)
    return loc.get_display_name(loc) or cid
