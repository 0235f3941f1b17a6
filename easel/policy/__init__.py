"""What a server allows: per-guild and per-channel settings, limits, permissions and content rules.

Pure core (no Discord import). Three layers, the nearer one wins: the global config, the guild's settings,
the channel's settings. The global ``[limits]`` are ceilings: no guild or channel value, and no role override,
can go past them (a cooldown can't go below the global one).

Settings are stored by :class:`easel.store.Store` as JSON under scope ``"guild"`` or ``"channel"``. Every
settable key is described in :data:`SETTINGS`; :func:`parse_value` turns what an admin typed into a checked
value, or refuses with :class:`PolicyError` whose message says why.

NSFW: Easel can't tell whether a prompt or a picture is NSFW, so the ``nsfw`` policy applies to everything
drawn outside age-restricted channels: ``"allow"`` changes nothing, ``"spoiler"`` posts every result there
behind a spoiler, ``"refuse"`` means Easel draws only in age-restricted channels.

Modules: :mod:`.words` (matching), :mod:`.keys` (setting keys and parsing), :mod:`.effective` (merging the
layers), :mod:`.checks` (the checks without I/O), :mod:`.service` (:class:`PolicyService`).
"""

from easel.config import SafetyConfig, parse_safety
from easel.errors import PolicyError
from easel.policy.checks import (
    REFUSED_BLOCKED,
    REFUSED_NEGATIVE_WORD,
    REFUSED_PAUSED,
    REFUSED_WORD,
    UserLimits,
    check_channel_and_nsfw,
    check_prompt,
    check_request_limits,
    check_user_gate,
    start_of_utc_day,
    user_limits,
)
from easel.policy.effective import EffectiveSettings, effective
from easel.policy.keys import (
    CHANNEL,
    EXTRA_NETWORK_CHOICES,
    GUILD,
    IMG2IMG_CHOICES,
    MAX_COOLDOWN,
    MAX_ID_ENTRIES,
    MAX_LIST_ENTRIES,
    MAX_PATTERNS,
    MAX_ROLE_OVERRIDES,
    NSFW_CHOICES,
    ROLE_OVERRIDE_KEYS,
    SETTINGS,
    Img2img,
    Nsfw,
    Scope,
    ServerSettings,
    SettingKind,
    SettingSpec,
    SettingType,
    check_role_override,
    parse_ids,
    parse_value,
    split_entries,
    validate_value,
)
from easel.policy.service import PolicyService, SettingsStore
from easel.policy.words import strip_extra_networks

__all__ = [
    "CHANNEL",
    "EXTRA_NETWORK_CHOICES",
    "GUILD",
    "IMG2IMG_CHOICES",
    "MAX_COOLDOWN",
    "MAX_ID_ENTRIES",
    "MAX_LIST_ENTRIES",
    "MAX_PATTERNS",
    "MAX_ROLE_OVERRIDES",
    "NSFW_CHOICES",
    "REFUSED_BLOCKED",
    "REFUSED_NEGATIVE_WORD",
    "REFUSED_PAUSED",
    "REFUSED_WORD",
    "ROLE_OVERRIDE_KEYS",
    "SETTINGS",
    "EffectiveSettings",
    "Img2img",
    "Nsfw",
    "PolicyError",
    "PolicyService",
    "SafetyConfig",
    "Scope",
    "ServerSettings",
    "SettingKind",
    "SettingSpec",
    "SettingType",
    "SettingsStore",
    "UserLimits",
    "check_channel_and_nsfw",
    "check_prompt",
    "check_request_limits",
    "check_role_override",
    "check_user_gate",
    "effective",
    "parse_ids",
    "parse_safety",
    "parse_value",
    "split_entries",
    "start_of_utc_day",
    "strip_extra_networks",
    "user_limits",
    "validate_value",
]
