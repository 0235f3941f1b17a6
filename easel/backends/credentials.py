"""Credentials in URLs: taken out of what is logged or shown, wherever a backend's address appears."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = ["safe_url", "scrub_credentials", "url_credentials"]


def safe_url(url: str) -> str:
    """The URL without credentials (``http://user:pass@host`` -> ``http://host``), for logs and messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def url_credentials(url: str) -> tuple[str | None, str | None]:
    """``(user, password)`` written into a URL (percent-decoded), or ``(None, None)``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None, None
    if "@" not in parts.netloc:
        return None, None
    user, _, password = parts.netloc.rpartition("@")[0].partition(":")
    return unquote(user), unquote(password) if password else None


# "scheme://user:pass@" (up to the last @ before the path), and a bare "user:pass@host" (a URL's netloc).
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s\"'<>]*@")
_BARE_USERINFO = re.compile(r"(?<![\w.%+:/-])[^\s/:@\"'<>()\[\]]+:[^\s/@\"'<>()\[\]]*@(?=[\w\[])")


def scrub_credentials(text: str) -> str:
    """``text`` with the ``user:pass@`` part of every URL (or bare ``user:pass@host``) in it removed, for names,
    labels, messages and logs."""
    if "@" not in text:
        return text
    return _BARE_USERINFO.sub("", _USERINFO.sub(r"\g<scheme>", text))
