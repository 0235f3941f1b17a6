"""Translations (a stub until the message catalogs land).

Every user-facing string is written ``_("English text with {placeholders}")`` and formatted after the lookup:
``_("Queued at position {n}.").format(n=3)``. The language is the one of the current context:
``with use_locale("de"): ...`` around the code that answers a member (their ``interaction.locale``) or posts in a
server (the server's language). Tasks started inside the block inherit it (``contextvars``).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

DEFAULT_LOCALE = "en-US"

_locale: contextvars.ContextVar[str] = contextvars.ContextVar("easel_locale", default=DEFAULT_LOCALE)


def current_locale() -> str:
    return _locale.get()


@contextlib.contextmanager
def use_locale(locale: str | None) -> Iterator[None]:
    token = _locale.set(locale or DEFAULT_LOCALE)
    try:
        yield
    finally:
        _locale.reset(token)


def _(message: str) -> str:
    """``message`` in the current locale (English until the catalogs land)."""
    return message


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it now (module-level constants)."""
    return message
