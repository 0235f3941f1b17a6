"""Preset and profile texts: within Discord's 2000 characters whatever is stored, markup escaped."""

from __future__ import annotations

from easel.config import ModelProfile
from easel.presets import Preset, PresetScope
from easel.texts.presets import (
    model_label,
    preset_choice,
    preset_choices,
    preset_list_text,
    preset_saved_text,
    preset_show_text,
    profile_show_text,
)


def preset(n: int, scope: PresetScope = PresetScope.USER, **options: object) -> Preset:
    values = {"prompt": "p" * 3000, "negative_prompt": "**bold** " * 100, "steps": 30, **options}
    return Preset(n, scope, 1 if scope is PresetScope.USER else 9, f"name_{n}" + "x" * 20, values)


def test_long_lists_and_presets_fit_one_message() -> None:
    own = [preset(i) for i in range(25)]
    server = [preset(100 + i, PresetScope.SERVER) for i in range(50)]
    text = preset_list_text(own, server, own[3], 25)
    assert len(text) <= 2000 and "(25 of 25)" in text and "more" in text
    shown = preset_show_text(own[0], is_default=True)
    assert len(shown) <= 2000 and "\\*\\*bold\\*\\*" in shown and "your default" in shown
    assert len(preset_saved_text(own[0], source="abc123")) <= 2000
    assert len(preset_choice(own[0])) <= 100


def test_choices_name_a_server_preset_the_member_has_a_namesake_of() -> None:
    mine = Preset(1, PresetScope.USER, 1, "anime", {"steps": 30})
    theirs = Preset(2, PresetScope.SERVER, 9, "anime", {"steps": 20})
    photo = Preset(3, PresetScope.SERVER, 9, "photo", {"steps": 20})
    assert [v for _n, v in preset_choices([mine, theirs, photo], 1)] == ["anime", "server:anime", "photo"]
    assert "(yours)" in preset_choices([mine], 1)[0][0] and "(server)" in preset_choices([photo], 1)[0][0]


def test_model_labels_and_profile_show() -> None:
    assert model_label("sdxl_base", None) == "sdxl_base"
    assert model_label("sdxl_base", ModelProfile(display_name="SDXL", description="fast")) == "SDXL (sdxl_base) — fast"
    text = profile_show_text("sdxl_base", ModelProfile(steps=30, modules=("a", "b"), hidden=True), {"steps": 30})
    assert "`steps`: 30 ★" in text and "`modules`: a, b" in text and "`hidden`: true" in text
    assert "nothing set" in profile_show_text("m", ModelProfile(), {})
