"""Who asks and where: the context every way into the queue is judged in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    """Who asks and where: everything the rules need from an interaction, read once."""

    user_id: int
    guild_id: int | None
    channel_id: int | None
    parent_id: int | None = None  # a thread's parent channel
    role_ids: tuple[int, ...] = ()
    is_nsfw_channel: bool = False
    locale: str = "en-US"  # the member's client language
    guild_locale: str | None = None
