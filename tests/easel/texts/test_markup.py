"""Discord markup helpers (easel.texts.markup): what user text can and cannot do to a message's layout."""

from __future__ import annotations

from easel.texts.markup import code_block, duration, escape, fit_lines, inline_code, relative_time, shorten


def test_escape_neutralises_markdown_and_mentions_and_keeps_one_line() -> None:
    assert escape("**hi** <@123> @everyone\n# title") == "\\*\\*hi\\*\\* \\<\\@123\\> \\@everyone \\# title"


def test_shorten() -> None:
    assert shorten("a  b\nc", 10) == "a b c"
    assert shorten("abcdef ghij", 8) == "abcdef…"
    assert len(shorten("x" * 100, 10)) == 10


def test_code_block_cannot_be_closed_by_the_text_and_keeps_its_limit() -> None:
    block = code_block("a\n```\n@everyone" + "z" * 500, 100)
    assert len(block) <= 100
    assert block.startswith("```\n") and block.endswith("\n```")
    assert block[3:-3].count("```") == 0  # the text's own fence is broken up
    assert "a\n`" in block  # line breaks are kept


def test_inline_code_cannot_be_closed_early() -> None:
    assert inline_code("a`b") == "`a'b`"


def test_relative_time_and_duration() -> None:
    assert relative_time(1_900_000_000.9) == "<t:1900000000:R>"
    assert duration(4.25) == "4.2 s"
    assert duration(187) == "3 min 07 s"


def test_fit_lines() -> None:
    assert fit_lines(["a", "b"], "+{n}", 10) == "a\nb"
    assert fit_lines(["head", "1234", "5678", "9abc"], "+{n}", 12, keep=1) == "head\n1234\n+2"
    assert len(fit_lines(["x" * 50], "+{n}", 10, keep=1)) <= 10
