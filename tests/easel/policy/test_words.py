"""easel/policy/words.py (through check_prompt): banned words, strip lists, extra networks, prefixes."""

from __future__ import annotations

import time

import pytest

from easel.policy import (
    REFUSED_WORD,
    PolicyError,
    SafetyConfig,
    check_prompt,
    effective,
    strip_extra_networks,
)
from tests.easel.policy.conftest import guild_eff, with_safety

# ---- content rules --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt",
    ["a Cat on a mat", "CAT", "(cat:1.2)", "black_cat", "fluffy cat.", "ｃａｔ", "c\u200bat", "a dog, cat"],
)
def test_banned_words_whole_word_case_insensitive(prompt: str) -> None:
    with pytest.raises(PolicyError) as err:
        check_prompt(prompt, "", guild_eff(banned_words=["cat"]))
    assert str(err.value) == REFUSED_WORD
    assert "cat" not in str(err.value).lower()


@pytest.mark.parametrize("prompt", ["concatenate", "cats2", "catalog", "a scat"])
def test_banned_words_do_not_match_inside_words(prompt: str) -> None:
    assert check_prompt(prompt, "", guild_eff(banned_words=["cat"]))[0] == prompt


def test_banned_phrases_and_regexes_and_negative_prompt() -> None:
    eff = guild_eff(banned_words=["hot dog", r"re:\bnud(e|ity)\b"])
    for text in ("a hot  dog", "hot_dog", "NUDITY please"):
        with pytest.raises(PolicyError, match="word this server doesn't allow"):
            check_prompt(text, "", eff)
    with pytest.raises(PolicyError, match="negative prompt contains"):
        check_prompt("fine", "nude", eff)
    assert check_prompt("a hotdog", "", eff)[0] == "a hotdog"


def test_global_and_guild_lists_both_apply() -> None:
    safety = SafetyConfig(banned_words=("gore",), strip_words=("masterpiece",))
    eff = guild_eff(banned_words=["cat"])
    for text in ("gore", "cat"):
        with pytest.raises(PolicyError):
            check_prompt(text, "", eff, safety)
    assert check_prompt("masterpiece, a dog", "", eff, safety) == ("a dog", "")


def test_strip_words_silently() -> None:
    eff = guild_eff(strip_words=["trending on artstation", "8k"])
    prompt, negative = check_prompt("a castle, Trending on ArtStation, 8K, moody", "8k blurry", eff)
    assert prompt == "a castle, moody"
    assert negative == "blurry"


def test_extra_networks_stripped_or_allowed() -> None:
    text = "a cat <lora:catstyle:0.8>, <hypernet:x:1> <LyCo:y> best"
    assert strip_extra_networks(text) == "a cat, best"
    assert check_prompt(text, "", guild_eff(extra_networks="strip"))[0] == "a cat, best"
    assert check_prompt(text, "", guild_eff())[0] == text
    # the bot-wide setting wins over a server's "allow"
    assert check_prompt(text, "", guild_eff(extra_networks="allow"), SafetyConfig(extra_networks="strip"))[0] == (
        "a cat, best"
    )
    assert effective(with_safety(SafetyConfig(extra_networks="strip")), {}).extra_networks == "strip"


def test_banned_word_inside_an_extra_network_tag_is_refused() -> None:
    with pytest.raises(PolicyError):
        check_prompt("a <lora:cat:1>", "", guild_eff(banned_words=["cat"], extra_networks="strip"))


def test_negative_prefix_prepended_once() -> None:
    eff = guild_eff(negative_prefix="nsfw, gore")
    assert check_prompt("x", "", eff) == ("x", "nsfw, gore")
    assert check_prompt("x", "blurry", eff) == ("x", "nsfw, gore, blurry")
    assert check_prompt("x", "NSFW, gore, blurry", eff) == ("x", "NSFW, gore, blurry")
    both = check_prompt("x", "blurry", eff, SafetyConfig(negative_prefix="lowres"))
    assert both == ("x", "lowres, nsfw, gore, blurry")


def test_long_prompt_against_patterns_is_fast() -> None:
    eff = guild_eff(banned_words=[r"re:\w*s?x", r"re:a[a-z]{0,3}q", *[f"w{i}" for i in range(400)]])
    started = time.perf_counter()
    check_prompt("a" * 1500, "a" * 1500, eff)
    assert time.perf_counter() - started < 1.0
