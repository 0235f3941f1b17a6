"""Text for ``/preset`` (members' and server presets) and ``/profile`` (a server's model profiles), and the model
lines of ``/models`` with a profile's display name and description. Pure functions, no Discord, no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from easel.config import ModelProfile
from easel.i18n import _
from easel.presets import PRESET_KEYS, Preset, PresetScope
from easel.texts.markup import escape, fit_lines, inline_code, shorten

__all__ = [
    "model_label",
    "preset_choice",
    "preset_choices",
    "preset_default_text",
    "preset_deleted_text",
    "preset_list_text",
    "preset_saved_text",
    "preset_show_text",
    "preset_summary",
    "profile_reset_text",
    "profile_set_text",
    "profile_show_text",
]


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return " ".join(str(value).split())


def preset_summary(preset: Preset, limit: int = 200) -> str:
    """Its options on one line, in the option table's order: ``model:x steps:30 aspect:16:9``."""
    parts = [f"{k}:{_value(preset.options[k])}" for k in PRESET_KEYS if k in preset.options and k != "prompt"]
    return shorten(" ".join(parts), limit) if parts else _("(no options)")


def preset_choice(preset: Preset) -> str:
    """An autocomplete choice: the name, whose it is, the options."""
    whose = _("server") if preset.scope is PresetScope.SERVER else _("yours")
    return f"{preset.name} ({whose}): {preset_summary(preset, 80)}"[:100]


def preset_choices(found: Sequence[Preset], user_id: int) -> list[tuple[str, str]]:
    """Autocomplete (name, value) pairs: the value is the name, ``server:name`` for a server preset whose name the
    member also has."""
    own = {p.name.lower() for p in found if p.owned_by(user_id)}
    return [
        (preset_choice(p), (p.label if not p.owned_by(user_id) and p.name.lower() in own else p.name)[:100])
        for p in found
    ]


def preset_saved_text(preset: Preset, *, source: str | None = None) -> str:
    text = (
        _("Saved the server preset {name}: {options}.")
        if preset.scope is PresetScope.SERVER
        else _("Saved your preset {name}: {options}.")
    )
    line = text.format(name=inline_code(preset.label), options=escape(preset_summary(preset)))
    if source:
        line += " " + _("(from job {job})").format(job=inline_code(source))
    return line + " " + _("Use it with `/draw preset:{name}`.").format(name=preset.label)


def preset_show_text(preset: Preset, *, is_default: bool = False) -> str:
    whose = _("server preset") if preset.scope is PresetScope.SERVER else _("your preset")
    lines = [f"**{escape(preset.label)}** ({whose}, #{preset.id})" + (" · " + _("your default") if is_default else "")]
    for key in PRESET_KEYS:
        if key in preset.options:
            lines.append(f"`{key}`: {escape(shorten(_value(preset.options[key]), 300))}")
    return fit_lines(lines, "…", keep=1)


def preset_list_text(own: Sequence[Preset], server: Sequence[Preset], default: Preset | None, cap: int) -> str:
    default_id = default.id if default is not None else None

    def line(p: Preset) -> str:
        mark = " ★" if p.id == default_id else ""
        return f"• `#{p.id}` **{escape(p.name)}**{mark}: {escape(preset_summary(p, 120))}"

    lines = [_("**Your presets** ({n} of {cap}):").format(n=len(own), cap=cap)]
    lines += [line(p) for p in own] or [_("none yet: `/preset save name:` keeps the options of your last /draw")]
    if server:
        lines.append(_("**This server's presets** (use them as `server:name` when you have one of that name):"))
        lines += [line(p) for p in server]
    if default is not None:
        lines.append(_("★ your default, applied to every /draw (`/draw preset:none` skips it once)."))
    return fit_lines(lines, _("… and {n} more"), keep=1)


def preset_deleted_text(preset: Preset) -> str:
    return _("Deleted the preset {name}.").format(name=inline_code(preset.label))


def preset_default_text(preset: Preset | None) -> str:
    if preset is None:
        return _("You have no default preset now.")
    return _("{name} is your default preset now: every /draw starts from it (the options you give win).").format(
        name=inline_code(preset.label)
    )


# ---- model profiles -----------------------------------------------------------------------------------------


def model_label(name: str, profile: ModelProfile | None) -> str:
    """A model in /models and autocomplete: its display name (and the checkpoint's), its description."""
    if profile is None or not (profile.display_name or profile.description):
        return name
    shown = profile.display_name or name
    text = shown if shown == name else f"{shown} ({name})"
    if profile.description:
        text += f" — {profile.description}"
    return text


def profile_show_text(model: str, profile: ModelProfile, overrides: Mapping[str, Any]) -> str:
    """``/profile show``: every key the profile sets, the server's own marked."""
    lines = [_("**Profile of {model}** (★: this server's own):").format(model=escape(shorten(model, 100)))]
    for f in fields(ModelProfile):
        if f.name in ("model", "hash"):
            continue
        value = getattr(profile, f.name)
        if value in (None, "", (), False) and f.name not in overrides:
            continue
        mark = " ★" if f.name in overrides else ""
        lines.append(f"`{f.name}`: {escape(shorten(_value(value), 200))}{mark}")
    if len(lines) == 1:
        lines.append(_("nothing set: the server's and the global defaults apply"))
    return fit_lines(lines, "…", keep=1)


def profile_set_text(model: str, key: str, value: Any) -> str:
    return _("{key} of {model} is now {value} on this server.").format(
        key=inline_code(key), model=escape(shorten(model, 100)), value=inline_code(_value(value))
    )


def profile_reset_text(model: str, key: str | None) -> str:
    if key is None:
        return _("{model} has no server overrides now.").format(model=escape(shorten(model, 100)))
    return _("{key} of {model} is back to the configured value.").format(
        key=inline_code(key), model=escape(shorten(model, 100))
    )
