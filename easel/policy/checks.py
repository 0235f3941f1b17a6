"""The checks on a draw that need no I/O: content rules on the prompt, channel and NSFW rules, who may draw,
and a member's queue limits (role overrides, ``[[role_limits]]``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from easel.config import SafetyConfig
from easel.errors import PolicyError
from easel.i18n import N_, _
from easel.loras import check_rules
from easel.options import SERVER_LIMITS
from easel.policy.effective import EffectiveSettings
from easel.policy.words import (
    ZERO_WIDTH,
    combine_prefix,
    matcher,
    normalise,
    strip_extra_networks,
    strip_patterns,
    tidy,
)
from easel.request import DrawRequest

REFUSED_WORD = N_("Your prompt contains a word this server doesn't allow.")
REFUSED_NEGATIVE_WORD = N_("Your negative prompt contains a word this server doesn't allow.")
REFUSED_BLOCKED = N_("You can't use Easel on this server.")
REFUSED_PAUSED = N_("Generation is paused on this server by a moderator.")


def check_prompt(
    prompt: str,
    negative: str,
    settings: EffectiveSettings,
    global_lists: SafetyConfig | None = None,
) -> tuple[str, str]:
    """Apply the content rules to a prompt and negative prompt; returns the pair to draw with.

    Banned words (global + server; whole words, case-insensitive; ``re:`` entries are regexes searched as
    written) refuse the draw without naming the word. Strip words are removed silently, extra-network tags
    when the setting says strip, and the enforced negative prefix is put in front of the negative prompt.
    """
    safety = global_lists or SafetyConfig()
    prompt = ZERO_WIDTH.sub("", prompt)
    negative = ZERO_WIDTH.sub("", negative)
    banned = matcher(tuple(safety.banned_words) + tuple(settings.banned_words))
    if banned.find(normalise(prompt)) is not None:
        raise PolicyError(_(REFUSED_WORD))
    if banned.find(normalise(negative)) is not None:
        raise PolicyError(_(REFUSED_NEGATIVE_WORD))

    strip = tuple(safety.strip_words) + tuple(settings.strip_words)
    if strip:
        for pattern in strip_patterns(strip):
            prompt = tidy(pattern.sub(" ", prompt))
            negative = tidy(pattern.sub(" ", negative))
    if settings.extra_networks == "strip" or safety.extra_networks == "strip":
        prompt = strip_extra_networks(prompt)
        negative = strip_extra_networks(negative)
    negative = combine_prefix([safety.negative_prefix, settings.negative_prefix], negative.strip())
    return prompt.strip(), negative


def check_channel_and_nsfw(
    settings: EffectiveSettings,
    *,
    channel_id: int | None,
    parent_id: int | None = None,
    is_nsfw_channel: bool,
    img2img: bool,
    spoiler: bool = False,
) -> bool:
    """Refuse a draw in a channel the server doesn't allow; returns True when the result must be spoilered
    (the user asked for it, or the server's nsfw policy is "spoiler" and the channel isn't age-restricted).

    ``parent_id`` is the parent channel of a thread: a thread of an allowed channel is allowed."""
    allowed = settings.allowed_channels
    if allowed and channel_id not in allowed and (parent_id is None or parent_id not in allowed):
        raise PolicyError(_("Easel doesn't draw in this channel; try <#{channel}>.").format(channel=allowed[0]))
    if not is_nsfw_channel:
        if settings.nsfw == "refuse":
            raise PolicyError(_("On this server Easel draws only in age-restricted channels."))
        if img2img and settings.img2img == "nsfw_only":
            raise PolicyError(_("On this server init images (img2img) are allowed only in age-restricted channels."))
        if settings.nsfw == "spoiler":
            return True
    return bool(spoiler)


@dataclass(frozen=True)
class UserLimits:
    """What one member may do: pass ``max_queued``/``cooldown`` to ``JobQueue.check_user``/``submit``."""

    max_queued: int
    cooldown: float
    daily_quota: int  # 0 = no quota

    def queue_kwargs(self) -> dict[str, float | int]:
        return {"max_queued": self.max_queued, "cooldown": self.cooldown}


def user_limits(settings: EffectiveSettings, role_ids: Iterable[int] = ()) -> UserLimits:
    """The member's limits: the channel/server ones, or the most generous of their roles' overrides (more
    jobs, shorter cooldown, bigger quota, 0 = none), always within the global ceilings."""
    lim = settings.limits
    max_queued, cooldown, quota = lim.max_queued_per_user, lim.cooldown_seconds, settings.daily_quota
    for role in role_ids:
        o = settings.role_overrides.get(int(role))
        if not o:
            continue
        if "max_queued_per_user" in o:
            max_queued = max(max_queued, int(o["max_queued_per_user"]))
        if "cooldown_seconds" in o:
            cooldown = min(cooldown, float(o["cooldown_seconds"]))
        if "daily_quota" in o:
            q = int(o["daily_quota"])
            quota = 0 if (q == 0 or quota == 0) else max(quota, q)
    top_queued, floor_cooldown = settings.ceilings.max_queued_per_user, settings.ceilings.cooldown_seconds
    roles = {int(r) for r in role_ids}
    for rl in settings.config.role_limits:  # [[role_limits]] in the config: may go past [limits]
        if rl.role_id not in roles:
            continue
        if rl.max_queued_per_user is not None:
            top_queued = max(top_queued, rl.max_queued_per_user)
            max_queued = max(max_queued, rl.max_queued_per_user)
        if rl.cooldown_seconds is not None:
            floor_cooldown = min(floor_cooldown, rl.cooldown_seconds)
            cooldown = min(cooldown, rl.cooldown_seconds)
    if settings.quota_ceiling:
        quota = min(quota, settings.quota_ceiling) if quota else settings.quota_ceiling
    return UserLimits(min(max_queued, top_queued), max(cooldown, floor_cooldown), quota)


def start_of_utc_day(now: float) -> float:
    return now - now % 86400


def check_user_gate(settings: EffectiveSettings, user_id: int, global_lists: SafetyConfig | None = None) -> None:
    """Blocked users and a paused server (no I/O)."""
    safety = global_lists or SafetyConfig()
    if user_id in settings.blocked_users or user_id in safety.blocked_users:
        raise PolicyError(_(REFUSED_BLOCKED))
    if settings.paused:
        raise PolicyError(_(REFUSED_PAUSED))


def check_request_limits(req: DrawRequest, settings: EffectiveSettings) -> None:
    """A request built elsewhere (a result button: reroll, vary, remix, upscale) against this channel's limits."""
    lim = settings.limits
    for opt in SERVER_LIMITS:
        if req.upscale and opt.multiple_of:  # an upscale keeps the source's size
            continue
        top = getattr(lim, opt.limit or "")
        value = getattr(req, opt.name, None)
        if value is not None and value > top:
            raise PolicyError(
                # TRANSLATORS: {what} is 'pixels wide', 'pixels high', 'images per request' or an option name
                _("This server allows at most {top} {what}.").format(
                    top=top, what=_(opt.noun) if opt.noun else opt.name
                )
            )
    check_rules(req.loras, allow=settings.lora_allow, block=settings.lora_block, max_loras=lim.max_loras)
