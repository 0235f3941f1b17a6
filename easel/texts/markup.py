"""Discord markup helpers for every text: escaping, shortening, code blocks, fitting into one message.

Everything echoed from users is escaped (markdown cannot change the layout) and shortened so the message stays
within Discord's 2000-character content limit. Mentions are neutralised by the bot-wide ``allowed_mentions``;
escaping here also keeps ``@everyone`` from rendering as a mention.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from easel.i18n import _, format_number

__all__ = [
    "CONTENT_LIMIT",
    "EMBED_LIMIT",
    "code_block",
    "duration",
    "escape",
    "fit_lines",
    "inline_code",
    "relative_time",
    "shorten",
    "shorten_keep_lines",
]

CONTENT_LIMIT = 2000  # characters of one message's content
EMBED_LIMIT = 4096  # characters of one embed's description
_MARKDOWN = re.compile(r"([\\*_~`|>#\[\]()<@])")


def escape(text: str) -> str:
    """Escape Discord markdown and mention syntax; collapse newlines so a prompt stays on its line."""
    text = " ".join(text.split())
    return _MARKDOWN.sub(r"\\\1", text)


def shorten(text: str, limit: int) -> str:
    """``text`` on one line (whitespace collapsed), cut to ``limit`` characters with "…" when longer."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)].rstrip() + "…"


def shorten_keep_lines(text: str, limit: int) -> str:
    """Like :func:`shorten` but keeps the line breaks and spacing (for code blocks)."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + "…"


def code_block(text: str, limit: int) -> str:
    """``text`` in a code block that user text cannot close early, within ``limit`` characters."""
    safe = text.replace("```", "`\u200b``")
    return "```\n" + shorten_keep_lines(safe, max(0, limit - 8)) + "\n```"


def inline_code(text: str) -> str:
    """``text`` in inline code (a backtick in it can't close the span early)."""
    return "`" + text.replace("`", "'") + "`"


def relative_time(ts: float) -> str:
    """Discord relative timestamp markup (renders as "in 2 minutes" in the user's locale)."""
    return f"<t:{int(ts)}:R>"


def duration(seconds: float) -> str:
    """A duration as "4.2 s" under a minute, else "3 min 07 s" (the decimal separator of the current locale)."""
    if seconds < 60:
        return _("{seconds} s").format(seconds=format_number(seconds, 1))
    minutes, sec = divmod(int(seconds), 60)
    return _("{minutes} min {seconds} s").format(minutes=minutes, seconds=f"{sec:02d}")


def fit_lines(lines: Sequence[str], more: str, limit: int = CONTENT_LIMIT, *, keep: int = 0) -> str:
    """Join ``lines`` with newlines; if that is longer than ``limit``, drop lines from the end (never the first
    ``keep``) and end with ``more.format(n=<dropped>)``. The result is at most ``limit`` characters."""
    text = "\n".join(lines)
    if len(text) <= limit:
        return text
    for cut in range(len(lines) - 1, keep - 1, -1):
        tail = more.format(n=len(lines) - cut)
        text = "\n".join([*lines[:cut], tail])
        if len(text) <= limit:
            return text
    return shorten("\n".join(lines), limit)
