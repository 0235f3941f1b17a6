"""Model profiles: per-checkpoint defaults and settings (``[[models]]`` in the config, overridden per server with
``/profile``), and the one function that layers /draw's defaults.

A profile applies to the checkpoint it names (by name, title, file name or short hash). It gives a display name
and description (``/models``), hides a checkpoint (not offered, refused), sets the default size (``base_size``:
512 for SD 1.5, 1024 for SDXL and Flux; the aspect ratios then use that pixel budget) and the largest size, the
default sampler, scheduler, steps, CFG scale and clip skip, the VAE (A1111/SD.Next ``sd_vae``; Forge
``forge_additional_modules``), Forge's ``distilled_cfg_scale`` (Flux), a negative-prompt prefix and trigger words.

A checkpoint without a profile gets one inferred from its name and file name where that tells the family
(``xl``/``pony``/``sd3``: 1024; ``flux``: 1024 with CFG 1 and distilled CFG 3.5; ``v1-5``/``sd15``: 512).

Layering (:func:`layer`): the global ``[defaults]``, then the model's profile, then the server's and channel's
defaults (``/settings``), then the member's preset (:mod:`easel.presets`), then the options given; always under
the global ``[limits]`` (and the server's), which a profile can lower but never raise.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from easel.config import PROFILE_KEYS, Config, Limits, ModelProfile, profile_value
from easel.errors import RequestError
from easel.i18n import _
from easel.options import CatalogView

__all__ = [
    "PROFILE_KEYS",
    "Layered",
    "ModelProfile",
    "ProfileStore",
    "Profiles",
    "hidden_refusal",
    "infer_profile",
    "layer",
    "merge_profile",
    "with_negative_prefix",
    "with_trigger_words",
]

log = logging.getLogger(__name__)

# Words in a checkpoint's name or file name that tell its family (and so its native size).
_FLUX = re.compile(r"flux", re.IGNORECASE)
_XL = re.compile(r"xl|pony|sd3|illustrious|noobai|playground", re.IGNORECASE)
_SD15 = re.compile(r"v1[-_.]?5|sd[-_]?15|sd[-_ ]?1\.5|1\.5", re.IGNORECASE)


def infer_profile(model_name: str, filename: str = "") -> ModelProfile | None:
    """The profile a checkpoint's name tells (None: it tells nothing; the ``[defaults]`` apply)."""
    text = f"{model_name} {filename}"
    if _FLUX.search(text):
        return ModelProfile(model=model_name, base_size=1024, cfg_scale=1.0, distilled_cfg_scale=3.5)
    if _XL.search(text):
        return ModelProfile(model=model_name, base_size=1024)
    if _SD15.search(text):
        return ModelProfile(model=model_name, base_size=512)
    return None


def _with_inferred(profile: ModelProfile | None, model_name: str) -> ModelProfile:
    """A configured profile with what it leaves unset taken from what the checkpoint's name tells (its size, a
    Flux's CFG); no profile: the inferred one, else an empty one."""
    inferred = infer_profile(model_name)
    if profile is None:
        return inferred or ModelProfile(model=model_name)
    if inferred is None:
        return profile
    fill = {
        key: getattr(inferred, key)
        for key in ("base_size", "cfg_scale", "distilled_cfg_scale")
        if getattr(profile, key) is None and getattr(inferred, key) is not None
    }
    return replace(profile, **fill) if fill else profile


def merge_profile(base: ModelProfile, overrides: Mapping[str, Any]) -> ModelProfile:
    """``base`` with a server's overrides (stored values checked again: one from an older Easel is skipped)."""
    values: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in PROFILE_KEYS:
            continue
        try:
            values[key] = profile_value(key, value)
        except ValueError:
            log.info("profiles: skipping a stored override %s=%r", key, value)
    return replace(base, **values) if values else base


class ProfileStore(Protocol):
    """Where a server's profile overrides live (:class:`easel.store.Store` fits)."""

    async def get_model_profiles(self, guild_id: int) -> dict[str, dict[str, Any]]: ...
    async def set_model_profile(
        self, guild_id: int, model: str, values: Mapping[str, Any], *, by: int | None = None
    ) -> None: ...


class Profiles:
    """The configured profiles, the inferred ones and each server's overrides (cached, invalidated on every write
    through :meth:`set_override`)."""

    MAX_CACHED_GUILDS = 10_000

    def __init__(self, profiles: Sequence[ModelProfile], store: ProfileStore | None = None) -> None:
        self.profiles = tuple(profiles)
        self.store = store
        self._guilds: dict[int, dict[str, dict[str, Any]]] = {}

    def configured(self, model_name: str, catalog: CatalogView | None = None) -> ModelProfile | None:
        """The ``[[models]]`` profile of ``model_name`` (a catalog model_name), matched by name or hash."""
        low = model_name.lower()
        for p in self.profiles:
            if p.model:
                resolved = catalog.resolve_model(p.model) if catalog is not None and catalog.known else None
                if (resolved or p.model).lower() == low:
                    return p
        hashed = [p for p in self.profiles if p.hash]
        return self._by_hash(model_name, hashed, catalog) if hashed and catalog is not None else None

    async def _overrides(self, guild_id: int | None) -> dict[str, dict[str, Any]]:
        if guild_id is None or self.store is None:
            return {}
        cached = self._guilds.get(guild_id)
        if cached is None:
            if len(self._guilds) >= self.MAX_CACHED_GUILDS:
                self._guilds.clear()
            cached = self._guilds[guild_id] = await self.store.get_model_profiles(guild_id)
        return cached

    async def for_model(
        self, model_name: str, guild_id: int | None = None, catalog: CatalogView | None = None
    ) -> ModelProfile:
        """The profile that applies to ``model_name`` in ``guild_id``: configured, else inferred, else empty; then
        the server's overrides."""
        base = _with_inferred(self.configured(model_name, catalog), model_name)
        over = (await self._overrides(guild_id)).get(model_name)
        return merge_profile(base, over) if over else base

    async def server_overrides(self, guild_id: int) -> dict[str, dict[str, Any]]:
        return dict(await self._overrides(guild_id))

    async def set_override(self, guild_id: int, model_name: str, key: str, value: Any, *, by: int) -> Any:
        """Set (``value`` not None) or clear one key of a server's profile of ``model_name``; returns the checked
        value. Raises RequestError (one line) for a bad key or value."""
        if self.store is None:
            raise RequestError(_("Model profiles can't be changed here."))
        if key not in PROFILE_KEYS:
            raise RequestError(
                _("Unknown profile key {key}: one of {keys}.").format(key=key, keys=", ".join(PROFILE_KEYS))
            )
        current = dict((await self._overrides(guild_id)).get(model_name, {}))
        if value is None:
            current.pop(key, None)
        else:
            try:
                value = profile_value(key, value)
            except ValueError as exc:
                raise RequestError(str(exc)) from None
            current[key] = list(value) if isinstance(value, tuple) else value
        await self.store.set_model_profile(guild_id, model_name, current, by=by)
        self._guilds.pop(guild_id, None)
        log.info("profiles: guild %s set %s of %s to %r (by user %s)", guild_id, key, model_name, value, by)
        return value

    async def clear(self, guild_id: int, model_name: str, *, by: int) -> None:
        """Drop every override of ``model_name`` on ``guild_id``."""
        if self.store is None:
            raise RequestError(_("Model profiles can't be changed here."))
        await self.store.set_model_profile(guild_id, model_name, {}, by=by)
        self._guilds.pop(guild_id, None)
        log.info("profiles: guild %s cleared the overrides of %s (by user %s)", guild_id, model_name, by)

    async def for_models(self, guild_id: int | None, catalog: CatalogView) -> dict[str, ModelProfile]:
        """The profile of every model the backends list, as it applies in ``guild_id`` (for /models and
        autocomplete: display names, descriptions, hidden)."""
        over = await self._overrides(guild_id)
        by_name: dict[str, ModelProfile] = {}
        for p in self.profiles:  # once per profile, not once per model and profile
            if p.model:
                resolved = catalog.resolve_model(p.model) if catalog.known else None
                by_name.setdefault(resolved or p.model, p)
        hashed = [p for p in self.profiles if p.hash]
        result = {}
        for name in catalog.model_names():
            base = by_name.get(name)
            if base is None and hashed:
                base = self._by_hash(name, hashed, catalog)
            base = _with_inferred(base, name)
            result[name] = merge_profile(base, over[name]) if name in over else base
        return result

    @staticmethod
    def _by_hash(name: str, profiles: Sequence[ModelProfile], catalog: CatalogView) -> ModelProfile | None:
        model_hash = (catalog.model_hash(name) or "").lower()
        if not model_hash:
            return None
        return next((p for p in profiles if model_hash.startswith(p.hash.lower())), None)

    async def hidden(self, guild_id: int | None, catalog: CatalogView) -> set[str]:
        """The model_names hidden in ``guild_id``."""
        return {name for name, p in (await self.for_models(guild_id, catalog)).items() if p.hidden}


# ---- layering ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layered:
    """What :func:`layer` gives ``build_request``: the config with this model's defaults and limits, and the
    request fields only a profile sets."""

    config: Config
    vae: str | None = None
    modules: tuple[str, ...] = ()
    distilled_cfg_scale: float | None = None
    negative_prefix: str = ""
    trigger_words: str = ""


_PLAIN = ("sampler", "scheduler", "steps", "cfg_scale", "clip_skip")


def _limits(lim: Limits, profile: ModelProfile) -> Limits:
    """The limits lowered by the profile's largest size (never raised)."""
    changes: dict[str, int] = {}
    if profile.max_width is not None and profile.max_width < lim.max_width:
        changes["max_width"] = profile.max_width
    if profile.max_height is not None and profile.max_height < lim.max_height:
        changes["max_height"] = profile.max_height
    if changes:
        side_w, side_h = changes.get("max_width", lim.max_width), changes.get("max_height", lim.max_height)
        changes["max_pixels"] = min(lim.max_pixels, side_w * side_h)
    return replace(lim, **changes) if changes else lim


def _fit(width: int, height: int, lim: Limits) -> tuple[int, int]:
    """A default size within the limits, the shape kept, multiples of 8."""
    scale = min(1.0, lim.max_width / width, lim.max_height / height, (lim.max_pixels / (width * height)) ** 0.5)
    if scale >= 1.0:
        return width, height
    return max(64, int(width * scale) // 8 * 8), max(64, int(height * scale) // 8 * 8)


def layer(config: Config, sources: Mapping[str, str], profile: ModelProfile | None) -> Layered:
    """The one place /draw's defaults are layered: ``config`` holds the global ``[defaults]`` with the server's
    and channel's over them (``sources[key]`` says which: "global", "server" or "channel"). The profile's values
    replace the global ones only, so a server's own default still wins over the model's; its sizes lower the
    limits. Every value stays within the (lowered) limits, so a profile never makes a /draw without options fail.
    The member's preset and the options given are applied over this by :func:`easel.request.build_request`
    (they are the options)."""
    if profile is None:
        return Layered(config)
    d = config.defaults
    lim = _limits(config.limits, profile)
    values: dict[str, Any] = {}
    for key in _PLAIN:
        value = getattr(profile, key)
        if value is not None and sources.get(key, "global") == "global":
            values[key] = value
    if "steps" in values:
        values["steps"] = min(values["steps"], lim.max_steps)
    if sources.get("width", "global") == "global" and sources.get("height", "global") == "global":
        side = profile.base_size
        width = profile.width or side or d.width
        height = profile.height or side or d.height
    else:
        width, height = d.width, d.height
    values["width"], values["height"] = _fit(width, height, lim)
    defaults = replace(d, **values)
    return Layered(
        config=replace(config, defaults=defaults, limits=lim),
        vae=profile.vae,
        modules=profile.modules,
        distilled_cfg_scale=profile.distilled_cfg_scale,
        negative_prefix=profile.negative_prefix,
        trigger_words=profile.trigger_words,
    )


def with_trigger_words(prompt: str, words: str) -> str:
    """``prompt`` with the profile's trigger words added once (not again when it has them: a reroll)."""
    words = words.strip()
    if not words or words.casefold() in prompt.casefold():
        return prompt
    return f"{prompt}, {words}" if prompt.strip() else words


def with_negative_prefix(negative: str, prefix: str) -> str:
    """``negative`` with the profile's prefix in front, unless it has it already (a reroll; like the server's
    enforced prefix)."""
    prefix = prefix.strip()
    if not prefix or prefix.casefold() in negative.casefold():
        return negative
    return f"{prefix}, {negative}" if negative.strip() else prefix


def hidden_refusal(model_name: str, profile: ModelProfile) -> RequestError:
    shown = profile.display_name or model_name
    return RequestError(_("The model {name} isn't offered here: pick another one (see /models).").format(name=shown))


_INT_KEYS = frozenset({"base_size", "width", "height", "max_width", "max_height", "steps", "clip_skip"})
_FLOAT_KEYS = frozenset({"cfg_scale", "distilled_cfg_scale"})


def parse_text(key: str, text: str) -> Any:
    """What an admin typed for a profile key (``/profile set``) as the value :func:`profile_value` checks.
    Raises RequestError (one line)."""
    text = text.strip()
    try:
        if key == "hidden":
            low = text.lower()
            if low not in ("true", "false", "yes", "no", "on", "off"):
                raise ValueError("hidden must be true or false")
            return low in ("true", "yes", "on")
        if key in _INT_KEYS:
            return int(text)
        if key in _FLOAT_KEYS:
            return float(text)
    except ValueError as exc:
        message = (
            str(exc) if key == "hidden" else _("{key} must be a number (got {text}).").format(key=key, text=text[:40])
        )
        raise RequestError(message) from None
    return text
