"""easel.loras: the lora option, <lora:...> tags, trigger words, close names, autocomplete, a server's rules."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from easel.errors import PolicyError, RequestError
from easel.loras import (
    LoraInfo,
    LoraRef,
    add_triggers,
    check_rules,
    close_names,
    complete,
    extract_tags,
    format_spec,
    format_tags,
    lora_info_from_api,
    merge,
    parse_spec,
    resolve,
)

INFOS = [
    LoraInfo("add_detail", "add_detail", "detailed"),
    LoraInfo("lcm-lora-sdv1-5", "LCM", ""),
    LoraInfo("pixel_art_v2", "pixelart", "pixel art, 8bit"),
]

NAME = st.text(
    st.characters(blacklist_characters=",:<>\n\r", blacklist_categories=("Cs", "Cc")), min_size=1, max_size=60
).filter(lambda s: s.strip() == s and s)
WEIGHT = st.floats(-2, 2, allow_nan=False).map(lambda w: round(w, 2))


def test_parse_name_weight_and_several() -> None:
    assert parse_spec("add_detail", 0.8) == (LoraRef("add_detail", 0.8),)
    assert parse_spec("a:0.5, b", 0.8) == (LoraRef("a", 0.5), LoraRef("b", 0.8))
    assert parse_spec(" a : -1.5 ,, b:2 ,", 1.0) == (LoraRef("a", -1.5), LoraRef("b", 2.0))
    assert parse_spec("a:0.5, A:0.7", 1.0) == (LoraRef("A", 0.7),)  # the same LoRA twice: the last weight
    assert parse_spec("<lora:a:0.3>", 1.0) == (LoraRef("a", 0.3),)  # a tag pasted into the option
    assert parse_spec("a:", 0.8) == (LoraRef("a", 0.8),)  # still typing the weight
    assert parse_spec("", 0.8) == ()


@pytest.mark.parametrize("text", ["a:2.5", "a:-2.01", "a:nan", "a:inf", "a:1e400"])
def test_weight_out_of_range_is_refused_in_one_line(text: str) -> None:
    with pytest.raises(RequestError, match=r"^The weight of LoRA a must be between -2 and 2 \(got .*\)\.$"):
        parse_spec(text, 0.8)


def test_bad_names_are_refused() -> None:
    with pytest.raises(RequestError, match="not a LoRA name"):
        parse_spec("<b>:1", 0.8)
    with pytest.raises(RequestError, match="At most 20 LoRAs"):
        parse_spec(",".join(f"l{i}" for i in range(21)), 0.8)


@given(st.lists(st.tuples(NAME, WEIGHT), min_size=1, max_size=8, unique_by=lambda t: t[0].casefold()))
def test_spec_round_trips(items: list[tuple[str, float]]) -> None:
    refs = tuple(LoraRef(n, w + 0.0) for n, w in items)
    assert parse_spec(format_spec(refs), 0.8) == refs


@given(st.text(max_size=80), st.floats(-2, 2, allow_nan=False))
def test_parse_spec_answers_refs_or_one_line(text: str, default: float) -> None:
    try:
        refs = parse_spec(text, default)
    except RequestError as exc:
        assert "\n" not in str(exc) and len(str(exc)) <= 200
        return
    for ref in refs:
        assert -2 <= ref.weight <= 2 and ref.name.strip() and "," not in ref.name


def test_extract_tags() -> None:
    rest, refs = extract_tags("a cat, <lora:add_detail:0.5>, in a hat <LORA:pixel_art_v2>", 0.8)
    assert rest == "a cat, in a hat"
    assert refs == (LoraRef("add_detail", 0.5), LoraRef("pixel_art_v2", 0.8))
    assert extract_tags("no tags <hypernet:x:1>", 0.8) == ("no tags <hypernet:x:1>", ())
    with pytest.raises(RequestError, match=r"Write LoRA tags as <lora:name:weight>"):
        extract_tags("<lora:a:0.5:0.2>", 0.8)
    with pytest.raises(RequestError, match="between -2 and 2"):
        extract_tags("<lora:a:7>", 0.8)


@given(st.text(st.characters(blacklist_characters="<>"), max_size=40), st.lists(st.tuples(NAME, WEIGHT), max_size=4))
def test_tags_come_back_out_of_the_prompt_they_were_put_in(prompt: str, items: list[tuple[str, float]]) -> None:
    refs = merge(LoraRef(n, w + 0.0) for n, w in items)
    rest, found = extract_tags(f"{prompt} {format_tags(refs)}", 0.8)
    assert merge(found) == refs
    assert "<lora" not in rest


def test_resolve_by_name_or_alias_and_close_names() -> None:
    refs = resolve((LoraRef("ADD_DETAIL", 1.0), LoraRef("pixelart", 0.5)), INFOS)
    assert refs == (LoraRef("add_detail", 1.0), LoraRef("pixel_art_v2", 0.5))
    with pytest.raises(RequestError, match=r"^No image server has the LoRA add_detial; close names: add_detail\.$"):
        resolve((LoraRef("add_detial", 1.0),), INFOS)
    with pytest.raises(RequestError, match="pick one from the list"):
        resolve((LoraRef("zzzzzz", 1.0),), INFOS)
    assert close_names("pixel", INFOS) == ["pixel_art_v2"]


def test_triggers_are_added_once() -> None:
    assert add_triggers("a cat", ["detailed"]) == "a cat, detailed"
    assert add_triggers("a Detailed cat", ["detailed"]) == "a Detailed cat"
    assert add_triggers("a cat, pixel art", ["pixel art, 8bit"]) == "a cat, pixel art, 8bit"
    assert add_triggers("undetailed", ["detailed"]) == "undetailed, detailed"  # whole words only
    assert add_triggers("", ["x"]) == "x"


@given(st.text(max_size=40), st.lists(st.text(max_size=20), max_size=3))
def test_adding_triggers_twice_changes_nothing(prompt: str, triggers: list[str]) -> None:
    once = add_triggers(prompt, triggers)
    assert add_triggers(once, triggers) == once
    assert once.startswith(prompt) or not prompt.strip()  # a blank prompt becomes the triggers


def test_rules() -> None:
    refs = (LoraRef("add_detail", 1.0), LoraRef("pixel_art_v2", 1.0))
    check_rules(refs, max_loras=2)
    with pytest.raises(
        PolicyError, match=r"^This server allows at most 1 LoRA\(s\) per request \(you asked for 2\)\.$"
    ):
        check_rules(refs, max_loras=1)
    with pytest.raises(PolicyError, match="pixel_art_v2 isn't allowed"):
        check_rules(refs, allow=["ADD_DETAIL"])
    with pytest.raises(PolicyError, match="add_detail isn't allowed"):
        check_rules(refs, block=["add_detail"])
    check_rules((), allow=["x"], max_loras=0)


def test_info_from_the_webui_list() -> None:
    freq = json.dumps({"10_cat": {"mycat": 40, "sitting": 12}, "5_cat": {"mycat": 5, "grass": 30}})
    item = {"name": "mycat", "alias": "MyCat", "path": "/x", "metadata": {"ss_tag_frequency": freq}}
    assert lora_info_from_api(item) == LoraInfo("mycat", "MyCat", "mycat")
    item["metadata"] = {"activation text": "  mc <style>  ", "ss_tag_frequency": freq}
    assert lora_info_from_api(item) == LoraInfo("mycat", "MyCat", "mc style")
    assert lora_info_from_api({"name": "x", "metadata": {"ss_tag_frequency": "not json"}}) == LoraInfo("x", "", "")
    assert lora_info_from_api({"alias": "nameless"}) is None
    assert lora_info_from_api("x") is None


def test_complete_the_last_item() -> None:
    assert complete("", INFOS)[0] == ("add_detail — detailed", "add_detail")
    assert [v for _, v in complete("pix", INFOS)] == ["pixel_art_v2"]
    assert [v for _, v in complete("add_detail:0.5, pix", INFOS)] == ["add_detail:0.5, pixel_art_v2"]
    assert [v for _, v in complete("add_detail:0.5, lcm:0.3", INFOS)] == ["add_detail:0.5, lcm-lora-sdv1-5:0.3"]
    assert [v for _, v in complete("add_detail, ", INFOS)] == [
        "add_detail, lcm-lora-sdv1-5",
        "add_detail, pixel_art_v2",
    ]
    assert complete("nothing like it", INFOS) == []


@given(st.text(max_size=150))
def test_choices_fit_discord(current: str) -> None:
    many = [LoraInfo(f"lora_{i}_" + "x" * 60, "", "y" * 120) for i in range(40)]
    choices = complete(current, many)
    assert len(choices) <= 25
    for label, value in choices:
        assert 1 <= len(label) <= 100 and 1 <= len(value) <= 100
