"""Presets: named sets of /draw options a member saves (``/preset save``) and applies (``/draw preset:``,
``/preset use``), and server presets an admin saves for every member of the server.

A preset holds the options of a request (not its seed): the prompt, negative prompt, model, sampler, scheduler,
steps, size or aspect ratio, CFG scale, clip skip, count, style and hires fix. Applied, it fills what the person did
not give (the options given win) and sits above the server's and the model's defaults (:func:`easel.profiles.layer`).
One preset can be a member's default, applied to every /draw that names none.

Naming a preset: ``name`` is the member's own, else the server's; ``server:name`` the server's; ``#id`` (what
``/preset list`` shows) a preset by its number, which must be the member's or this server's. A preset whose model
(or sampler, scheduler, style) no backend has any more is refused with the reason, never silently changed.
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any, Protocol

from easel.config import PresetsConfig
from easel.errors import RequestError
from easel.i18n import _
from easel.loras import parse_spec
from easel.options import CatalogView
from easel.request import DrawOptions, DrawRequest

__all__ = [
    "NO_PRESET",
    "PRESET_KEYS",
    "Preset",
    "PresetBook",
    "PresetScope",
    "PresetStore",
    "apply_preset",
    "check_name",
    "options_of_request",
]

log = logging.getLogger(__name__)

# The options a preset keeps (the DrawOptions fields; never the seed, the init image or the spoiler choice).
PRESET_KEYS: tuple[str, ...] = (
    "prompt",
    "negative_prompt",
    "model",
    "sampler",
    "scheduler",
    "steps",
    "width",
    "height",
    "aspect",
    "cfg_scale",
    "clip_skip",
    "count",
    "style",
    "hires_fix",
    "lora",
    "face_fix",
)
MAX_NAME = 32
NO_PRESET = "none"  # /draw preset:none: no preset, not even the member's default
SERVER_PREFIX = "server:"
_NAME = re.compile(r"^[\w][\w .'-]*$")


class PresetScope(StrEnum):
    USER = "user"  # scope_id: the member's user id
    SERVER = "server"  # scope_id: the guild id


@dataclass(frozen=True)
class Preset:
    id: int
    scope: PresetScope
    scope_id: int
    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    created_by: int = 0
    updated_at: float = field(default_factory=time.time)

    @property
    def label(self) -> str:
        """How lists and refusals name it: ``anime`` or ``server:anime``."""
        return f"{SERVER_PREFIX}{self.name}" if self.scope is PresetScope.SERVER else self.name

    def owned_by(self, user_id: int) -> bool:
        return self.scope is PresetScope.USER and self.scope_id == user_id


class PresetStore(Protocol):
    """Where presets live (:class:`easel.store.Store` fits)."""

    async def save_preset(
        self, scope: str, scope_id: int, name: str, options: Mapping[str, Any], *, by: int
    ) -> Preset: ...
    async def get_preset(self, scope: str, scope_id: int, name: str) -> Preset | None: ...
    async def preset_by_id(self, preset_id: int) -> Preset | None: ...
    async def list_presets(self, scope: str, scope_id: int) -> list[Preset]: ...
    async def count_presets(self, scope: str, scope_id: int) -> int: ...
    async def delete_preset(self, preset_id: int) -> bool: ...
    async def set_default_preset(self, user_id: int, preset_id: int | None) -> None: ...
    async def default_preset(self, user_id: int) -> Preset | None: ...


def check_name(name: str) -> str:
    """A preset name as stored: letters, digits, spaces and ``.'-_``, at most 32 characters, case kept."""
    name = " ".join(unicodedata.normalize("NFKC", name or "").split())
    if name.lower().startswith(SERVER_PREFIX):
        name = name[len(SERVER_PREFIX) :].strip()
    if not name or len(name) > MAX_NAME or not _NAME.match(name) or name.lower() == NO_PRESET:
        raise RequestError(
            _("A preset name is 1 to {n} letters, digits, spaces or . ' - _ (got {name}).").format(
                n=MAX_NAME, name=repr(name[:40])
            )
        )
    return name


def options_of_request(req: DrawRequest) -> dict[str, Any]:
    """The options of a stored request a preset keeps: its size as an aspect ratio when it was drawn from one."""
    values: dict[str, Any] = {}
    for key in PRESET_KEYS:
        value = getattr(req, key, None)
        if value is None or value == "" or value is False:
            continue
        values[key] = value
    if req.aspect:
        values.pop("width", None)
        values.pop("height", None)
    if req.img2img or req.upscale:
        values.pop("width", None)  # the init image's size, not a choice
        values.pop("height", None)
    if values.get("count") == 1:
        values.pop("count")
    return values


_FIELDS = {f.name for f in fields(DrawOptions)}


def apply_preset(opts: DrawOptions, preset: Preset, *, img2img: bool = False) -> DrawOptions:
    """``opts`` with what it leaves unset taken from ``preset`` (the options given win; a prompt given wins
    over the preset's). Width and height of the preset are left out when the person gave an aspect ratio, and
    its ratio when they gave a side; with an init image (``img2img``) its size, ratio and hires fix too (the
    picture gives the shape, and hires fix is for text-to-image only)."""
    values = {k: v for k, v in preset.options.items() if k in PRESET_KEYS and k in _FIELDS}
    if img2img:
        for key in ("width", "height", "aspect", "hires_fix"):
            values.pop(key, None)
    if opts.aspect is not None:
        values.pop("width", None)
        values.pop("height", None)
    if opts.width is not None or opts.height is not None:
        values.pop("aspect", None)
    changes: dict[str, Any] = {}
    for key, value in values.items():
        current = getattr(opts, key)
        if key == "prompt":
            if not (current or "").strip():
                changes[key] = value
        elif current is None:
            changes[key] = value
    return replace(opts, **changes) if changes else opts


def check_available(preset: Preset, catalog: CatalogView | None) -> None:
    """Refuse a preset whose model, LoRA, sampler, scheduler or style no backend has now (one line, the reason)."""
    if catalog is None or not catalog.known:
        return
    o = preset.options
    model = o.get("model")
    if model and catalog.resolve_model(str(model)) is None:
        raise RequestError(
            _("The preset {name} uses the model {model}, which no image server has any more: save it again.").format(
                name=preset.label, model=model
            )
        )
    lora = o.get("lora")
    if lora:
        try:
            refs = parse_spec(str(lora), 1.0)
        except RequestError:
            refs = ()
        for ref in refs:
            if not catalog.backends_with_lora(ref.name):
                raise RequestError(
                    _(
                        "The preset {name} uses the LoRA {lora}, which no image server has any more: save it again."
                    ).format(name=preset.label, lora=ref.name)
                )
    checks = (("sampler", catalog.has_sampler), ("scheduler", catalog.has_scheduler), ("style", catalog.has_style))
    for key, has in checks:
        value = o.get(key)
        if value and not has(str(value)):
            raise RequestError(
                _(
                    "The preset {name} uses the {key} {value}, which no image server has any more: save it again."
                ).format(name=preset.label, key=key, value=value)
            )


class PresetBook:
    """Presets through the store: the caps, the naming rules and who may use or delete what."""

    def __init__(self, store: PresetStore, cfg: PresetsConfig) -> None:
        self.store = store
        self.cfg = cfg

    async def save(
        self, user_id: int, guild_id: int | None, name: str, options: Mapping[str, Any], *, server: bool = False
    ) -> Preset:
        """Save (or replace) a preset: the member's own, or with ``server`` this server's (the cog checks that the
        member is an admin). Refuses past the cap."""
        name = check_name(name)
        if server:
            if guild_id is None:
                raise RequestError(_("Server presets are saved in a server."))
            scope, scope_id, cap = PresetScope.SERVER, guild_id, self.cfg.max_per_server
        else:
            scope, scope_id, cap = PresetScope.USER, user_id, self.cfg.max_per_user
        values = {k: v for k, v in options.items() if k in PRESET_KEYS}
        if not values:
            raise RequestError(_("There is nothing to save: that request has no options."))
        existing = await self.store.get_preset(scope, scope_id, name)
        if existing is None and await self.store.count_presets(scope, scope_id) >= cap:
            raise RequestError(
                _("You can keep {cap} presets; delete one first (/preset delete).").format(cap=cap)
                if not server
                else _("This server can keep {cap} presets; delete one first.").format(cap=cap)
            )
        preset = await self.store.save_preset(scope, scope_id, name, values, by=user_id)
        log.info("presets: user %s saved %s preset %r (%s)", user_id, scope, name, preset.id)
        return preset

    async def find(self, user_id: int, guild_id: int | None, ref: str) -> Preset:
        """The preset ``ref`` names for this member here (see the module docstring). Refuses an unknown one and
        someone else's."""
        text = (ref or "").strip()
        if text.startswith("#") and text[1:].isdigit():
            preset = await self.store.preset_by_id(int(text[1:]))
            if preset is None:
                raise RequestError(_("There is no preset {ref}.").format(ref=text))
            if not (preset.owned_by(user_id) or self._of_server(preset, guild_id)):
                raise RequestError(
                    _("The preset {ref} is someone else's: you can only use your own and this server's.").format(
                        ref=text
                    )
                )
            return preset
        server_only = text.lower().startswith(SERVER_PREFIX)
        name = check_name(text)
        preset = None if server_only else await self.store.get_preset(PresetScope.USER, user_id, name)
        if preset is None and guild_id is not None:
            preset = await self.store.get_preset(PresetScope.SERVER, guild_id, name)
        if preset is None:
            raise RequestError(_("You have no preset {name} (see /preset list).").format(name=name))
        return preset

    @staticmethod
    def _of_server(preset: Preset, guild_id: int | None) -> bool:
        return preset.scope is PresetScope.SERVER and guild_id is not None and preset.scope_id == guild_id

    async def usable(self, user_id: int, guild_id: int | None, ref: str, catalog: CatalogView | None) -> Preset:
        """:meth:`find`, and refused when its model (or sampler, scheduler, style) is gone."""
        preset = await self.find(user_id, guild_id, ref)
        check_available(preset, catalog)
        return preset

    async def default_for(self, user_id: int, guild_id: int | None) -> Preset | None:
        """The member's default preset, if it applies here (a server preset only in its own server)."""
        preset = await self.store.default_preset(user_id)
        if preset is None:
            return None
        if preset.owned_by(user_id) or self._of_server(preset, guild_id):
            return preset
        return None

    async def listing(self, user_id: int, guild_id: int | None) -> tuple[list[Preset], list[Preset], Preset | None]:
        """The member's presets, this server's, and the member's default."""
        own = await self.store.list_presets(PresetScope.USER, user_id)
        server = await self.store.list_presets(PresetScope.SERVER, guild_id) if guild_id is not None else []
        return own, server, await self.store.default_preset(user_id)

    async def delete(self, user_id: int, guild_id: int | None, ref: str, *, admin: bool = False) -> Preset:
        """Delete the member's own preset, or (``admin``) this server's. Refuses someone else's."""
        preset = await self.find(user_id, guild_id, ref)
        if preset.scope is PresetScope.SERVER and not admin:
            raise RequestError(
                _("Only the server's admins can delete the server preset {name}.").format(name=preset.label)
            )
        await self.store.delete_preset(preset.id)
        log.info("presets: user %s deleted %s preset %r (%s)", user_id, preset.scope, preset.name, preset.id)
        return preset

    async def set_default(self, user_id: int, guild_id: int | None, ref: str | None) -> Preset | None:
        """Make ``ref`` the member's default (None: no default)."""
        preset = None if ref is None else await self.find(user_id, guild_id, ref)
        await self.store.set_default_preset(user_id, None if preset is None else preset.id)
        return preset

    async def search(self, user_id: int, guild_id: int | None, text: str, limit: int = 25) -> list[Preset]:
        """Autocomplete: the member's presets, then this server's, whose name contains ``text``."""
        own, server, _default = await self.listing(user_id, guild_id)
        low = text.strip().lower()
        if low.startswith(SERVER_PREFIX):
            own, low = [], low[len(SERVER_PREFIX) :]
        hits = [p for p in [*own, *server] if low in p.name.lower()]
        return hits[:limit]
