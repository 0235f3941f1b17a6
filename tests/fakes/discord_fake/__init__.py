"""A loopback fake of the Discord API (REST + gateway) for end-to-end tests.

The real discord.py client logs into it: tests point ``discord.http.Route.BASE`` (and, because a plain
``discord.Client`` dials ``DiscordWebSocket.DEFAULT_GATEWAY`` directly instead of asking ``GET /gateway/bot``,
also ``DiscordWebSocket.DEFAULT_GATEWAY``) at the fake.  :func:`run_client` does both and restores them.

Everything listens on 127.0.0.1 only.  Every wait has a timeout.  The fake records every request and every
message, validates request bodies against Discord's OpenAPI document (``tests/specs/discord-openapi.json``) and
enforces Discord's message limits, so tests catch the bot breaking them.

The package follows the fake's sections: ``objects`` (data objects), ``rest_users`` / ``rest_guilds`` /
``rest_channels`` / ``rest_commands`` / ``rest_interactions`` (REST handlers by resource), ``messages`` (the
message store), ``gateway``, ``spec`` and ``validation`` (request checks), ``driver`` (invoking commands,
clicks, modals) and ``fake`` (:class:`FakeDiscord` itself and :func:`run_client`).  Import from the package.

Typical use::

    fake = FakeDiscord()
    fake.add_guild(1)
    fake.add_channel(1, 10)
    fake.add_member(1, 100, name="alice")
    await fake.start()
    async with run_client(fake, bot):
        await bot.tree.sync(guild=discord.Object(1))
        inter = await fake.invoke("ping", {"n": 3}, user_id=100, guild_id=1, channel_id=10)
        await inter.wait_response()
    await fake.stop()

Behaviour worth knowing:

* Callbacks later than ``interaction_timeout`` (3 s, Discord's rule; None disables) after dispatch get
  404 10062 "Unknown interaction"; a second callback gets 400 40060.
* After a type 5 ("thinking") defer, the first followup completes the loading @original message (same id,
  keeps the defer's ephemerality) as Discord does; later followups are new messages.
* For component interactions, type 6/7 make ``original`` the component's message (PATCH @original edits it).
* A channel message posted with ``enforce_nonce`` and a nonce seen in that channel less than ``nonce_ttl``
  seconds ago (default :data:`NONCE_TTL`, 5 min: Discord remembers nonces "a few minutes") returns the first
  message instead of posting again; an older nonce posts a second message.  Age is measured with ``clock``
  (default ``time.monotonic``); tests pass a clock they move forward.
* ``validation_errors`` collects both spec (OpenAPI) violations and Discord-limit violations (content > 2000,
  > 5 action rows, duplicate custom_ids, Components V2 with content, ...); both are answered 400 code 50035.
* ``mentions_resolved`` / ``pings_everyone`` / ``pings_roles`` apply allowed_mentions only (not permissions).
* ``internal_errors`` holds tracebacks of bugs in the fake (answered 400 so discord.py does not retry 500s);
  ``unhandled`` holds requests to routes the fake does not implement (answered 404).
* ``hold_ready = asyncio.Event()`` holds the gateway's READY after an IDENTIFY until the test sets the event (a slow
  gateway); REST answers meanwhile. ``ready_sent`` counts the READYs sent.
* discord.py waits ``guild_ready_timeout`` (2 s default) after the last GUILD_CREATE before ``on_ready``:
  construct test clients with ``guild_ready_timeout=0.05``.
"""

from ._base import (
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    DISCORD_EPOCH_MS,
    FLAG_COMPONENTS_V2,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    FLAG_SUPPRESS_EMBEDS,
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MESSAGES,
    NONCE_TTL,
    P_ADD_REACTIONS,
    P_ADMINISTRATOR,
    P_ALL,
    P_ATTACH_FILES,
    P_CHANGE_NICKNAME,
    P_CONNECT,
    P_EMBED_LINKS,
    P_MANAGE_MESSAGES,
    P_MENTION_EVERYONE,
    P_READ_MESSAGE_HISTORY,
    P_SEND_MESSAGES,
    P_SPEAK,
    P_USE_APPLICATION_COMMANDS,
    P_USE_EXTERNAL_EMOJIS,
    P_VIEW_CHANNEL,
    SPEC_PATH,
    DiscordHTTPError,
    MiB,
)
from .fake import FakeDiscord, run_client
from .objects import FakeAttachment, FakeChannel, FakeFile, FakeGuild, FakeInteraction, FakeMessage, RecordedRequest
from .spec import resolve_mentions

__all__ = [
    "DEFAULT_BOT_PERMISSIONS",
    "DEFAULT_EVERYONE_PERMISSIONS",
    "DISCORD_EPOCH_MS",
    "FLAG_COMPONENTS_V2",
    "FLAG_EPHEMERAL",
    "FLAG_LOADING",
    "FLAG_SUPPRESS_EMBEDS",
    "INTENT_DIRECT_MESSAGES",
    "INTENT_GUILD_MESSAGES",
    "NONCE_TTL",
    "P_ADD_REACTIONS",
    "P_ADMINISTRATOR",
    "P_ALL",
    "P_ATTACH_FILES",
    "P_CHANGE_NICKNAME",
    "P_CONNECT",
    "P_EMBED_LINKS",
    "P_MANAGE_MESSAGES",
    "P_MENTION_EVERYONE",
    "P_READ_MESSAGE_HISTORY",
    "P_SEND_MESSAGES",
    "P_SPEAK",
    "P_USE_APPLICATION_COMMANDS",
    "P_USE_EXTERNAL_EMOJIS",
    "P_VIEW_CHANNEL",
    "SPEC_PATH",
    "DiscordHTTPError",
    "FakeAttachment",
    "FakeChannel",
    "FakeDiscord",
    "FakeFile",
    "FakeGuild",
    "FakeInteraction",
    "FakeMessage",
    "MiB",
    "RecordedRequest",
    "resolve_mentions",
    "run_client",
]
