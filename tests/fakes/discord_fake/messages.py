"""The message store: building, editing and deleting messages and their gateway events (mixin of FakeDiscord)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .fake import FakeDiscord

from ._base import (
    FLAG_COMPONENTS_V2,
    FLAG_LOADING,
    FLAG_SUPPRESS_EMBEDS,
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MESSAGES,
    DiscordHTTPError,
    _guess_type,
    _snowflake,
)
from .objects import FakeAttachment, FakeChannel, FakeFile, FakeInteraction, FakeMessage, _walk_components
from .spec import resolve_mentions


class MessagesMixin:
    # ------------------------------------------------------------------ messages

    def _build_attachments(
        self, body: dict, files: list[FakeFile], existing: FakeMessage | None
    ) -> tuple[list[FakeFile], list[tuple[list[Any], str, str]]]:
        problems: list[tuple[list[Any], str, str]] = []
        by_index = {f.index if f.index is not None else i: f for i, f in enumerate(files)}
        specs = body.get("attachments")
        if specs is None:
            kept = list(existing.attachments) if existing is not None else []
            return kept + list(files), problems
        result: list[FakeFile] = []
        existing_by_id = {f.id: f for f in existing.attachments} if existing is not None else {}
        used: set[int] = set()
        for i, spec in enumerate(specs):
            try:
                aid = int(spec.get("id"))
            except (TypeError, ValueError):
                problems.append((["attachments", i, "id"], "BASE_TYPE_REQUIRED", "This field is required"))
                continue
            if aid in by_index and aid not in existing_by_id:
                f = by_index[aid]
                used.add(aid)
                if spec.get("filename"):
                    f.filename = spec["filename"]
                    f.content_type = _guess_type(f.filename, f.sent_content_type)
                if spec.get("description") is not None:
                    f.description = spec["description"]
                result.append(f)
            elif aid in existing_by_id:
                result.append(existing_by_id[aid])
            else:
                problems.append((["attachments", i, "id"], "ATTACHMENT_NOT_FOUND", f"Unknown attachment id {aid}"))
        for idx, f in by_index.items():
            if idx not in used:
                result.append(f)
        return result, problems

    def _apply_mentions(self, m: FakeMessage) -> None:
        replied = None
        if m.message_reference and m.message_reference.get("message_id"):
            ref = self._messages_by_id.get(int(m.message_reference["message_id"]))
            if ref is not None and ref.author_id != m.author_id:
                replied = ref.author_id
        users, roles, everyone = resolve_mentions(m.content, m.allowed_mentions, replied_user_id=replied)
        m.mentions_resolved, m.pings_roles, m.pings_everyone = users, roles, everyone

    def _new_message(
        self,
        *,
        channel_id: int,
        author_id: int,
        body: dict,
        attachments: list[FakeFile],
        kind: str,
        interaction: FakeInteraction | None = None,
        extra_flags: int = 0,
    ) -> FakeMessage:
        channel = self.channels.get(channel_id)
        flags = int(body.get("flags") or 0) | extra_flags
        m = FakeMessage(
            id=_snowflake(),
            channel_id=channel_id,
            author_id=author_id,
            content=body.get("content") or "",
            embeds=list(body.get("embeds") or []),
            components=_with_component_ids(body.get("components") or []),
            flags=flags,
            attachments=attachments,
            allowed_mentions=body.get("allowed_mentions"),
            nonce=body.get("nonce"),
            guild_id=channel.guild_id if channel is not None else (interaction.guild_id if interaction else None),
            interaction_id=interaction.id if interaction else None,
            interaction_token=interaction.token if interaction else None,
            webhook_id=self.app_id if interaction else None,
            kind=kind,
            tts=bool(body.get("tts")),
            message_reference=body.get("message_reference"),
        )
        if interaction is not None and interaction.type == 2 and kind in ("original", "followup"):
            m.type = 20 if interaction.data.get("type", 1) == 1 else 23
        elif m.message_reference:
            m.type = 19
        for f in attachments:
            self._files[f.id] = f
        _resolve_media_urls(m, self)
        self._apply_mentions(m)
        self.messages.append(m)
        self._messages_by_id[m.id] = m
        if channel is not None and not m.ephemeral:
            channel.last_message_id = m.id
        self._gateway_message_event("MESSAGE_CREATE", m)
        return m

    def _edit_message(self, m: FakeMessage, body: dict, attachments: list[FakeFile], *, clear_loading: bool) -> None:
        m.history.append(
            {
                "content": m.content,
                "embeds": m.embeds,
                "components": m.components,
                "flags": m.flags,
                "attachments": [f.filename for f in m.attachments],
            }
        )
        if "content" in body:
            m.content = body["content"] or ""
        if "embeds" in body:
            m.embeds = list(body["embeds"] or [])
        if "components" in body:
            m.components = _with_component_ids(body["components"] or [])
        if body.get("flags") is not None:
            # only SUPPRESS_EMBEDS and IS_COMPONENTS_V2 can be changed by an edit; ephemeral stays
            keep = m.flags & ~(FLAG_SUPPRESS_EMBEDS | FLAG_COMPONENTS_V2)
            m.flags = keep | (int(body["flags"]) & (FLAG_SUPPRESS_EMBEDS | FLAG_COMPONENTS_V2))
        if "allowed_mentions" in body:
            m.allowed_mentions = body["allowed_mentions"]
        if clear_loading:
            m.flags &= ~FLAG_LOADING
        m.attachments = attachments
        for f in attachments:
            self._files[f.id] = f
        _resolve_media_urls(m, self)
        m.edits += 1
        m.edited_at = time.time()
        self._apply_mentions(m)
        self._gateway_message_event("MESSAGE_UPDATE", m)

    def _delete_message(self, m: FakeMessage) -> None:
        m.deleted = True
        if self._active is not None and not m.ephemeral and self._wants_message_events(m):
            d: dict[str, Any] = {"id": str(m.id), "channel_id": str(m.channel_id)}
            if m.guild_id is not None:
                d["guild_id"] = str(m.guild_id)
            self._spawn_dispatch("MESSAGE_DELETE", d)

    def _wants_message_events(self, m: FakeMessage) -> bool:
        conn = self._active
        if conn is None or conn.session is None:
            return False
        intent = INTENT_GUILD_MESSAGES if m.guild_id is not None else INTENT_DIRECT_MESSAGES
        return bool(conn.session.intents & intent)

    def _gateway_message_event(self, event: str, m: FakeMessage) -> None:
        if m.ephemeral or not self._wants_message_events(m):
            return
        self._spawn_dispatch(event, self.message_payload(m, gateway=True))

    def _spawn_dispatch(self, event: str, data: dict) -> None:
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().create_task(self._safe_dispatch(event, data))

    async def _safe_dispatch(self, event: str, data: dict) -> None:
        with contextlib.suppress(Exception):
            await self.dispatch(event, data)

    def _find_message(self, channel_id: int, message_id: int) -> FakeMessage:
        m = self._messages_by_id.get(message_id)
        if m is None or m.channel_id != channel_id or m.deleted or m.ephemeral:
            raise DiscordHTTPError(404, 10008, "Unknown Message")
        return m

    def _channel(self, channel_id: int) -> FakeChannel:
        channel = self.channels.get(channel_id)
        if channel is None:
            raise DiscordHTTPError(404, 10003, "Unknown Channel")
        return channel

    async def user_message(
        self,
        channel_id: int,
        user_id: int,
        content: str = "",
        *,
        attachments: list[FakeAttachment] | None = None,
    ) -> FakeMessage:
        """A (fake) user posts a message; MESSAGE_CREATE is dispatched to the bot if its intents want it."""
        files = [
            FakeFile(filename=a.filename, data=a.data, content_type=a.content_type, id=a.id) for a in attachments or []
        ]
        m = self._new_message(
            channel_id=channel_id, author_id=user_id, body={"content": content}, attachments=files, kind="user"
        )
        self._notify()
        return m


def _with_component_ids(components: list[dict]) -> list[dict]:
    """Copy components, numbering those without an `id` depth-first like Discord does."""
    components = copy.deepcopy(components)
    used = {c["id"] for c in _walk_components(components) if isinstance(c.get("id"), int)}
    counter = itertools.count(1)
    for c in _walk_components(components):
        if not isinstance(c.get("id"), int):
            n = next(counter)
            while n in used:
                n = next(counter)
            c["id"] = n
            used.add(n)
    return components


def _media_refs(components: list[dict], path: list[Any]) -> Iterator[tuple[list[Any], str]]:
    for i, c in enumerate(components or []):
        if not isinstance(c, dict):
            continue
        here = [*path, i]
        if c.get("type") == 12:
            for j, item in enumerate(c.get("items") or []):
                url = (item.get("media") or {}).get("url")
                if isinstance(url, str):
                    yield [*here, "items", j, "media", "url"], url
        elif c.get("type") == 13:
            url = (c.get("file") or {}).get("url")
            if isinstance(url, str):
                yield [*here, "file", "url"], url
        elif c.get("type") == 11:
            url = (c.get("media") or {}).get("url")
            if isinstance(url, str):
                yield [*here, "media", "url"], url
        if isinstance(c.get("accessory"), dict):
            yield from _media_refs([c["accessory"]], [*here, "accessory"])
        yield from _media_refs(c.get("components") or [], [*here, "components"])


def _resolve_media_urls(m: FakeMessage, fake: FakeDiscord) -> None:
    """attachment://name references in components resolve to the uploaded file, as Discord does."""
    by_name = {f.filename: f for f in m.attachments}
    for embed in m.embeds:
        if not isinstance(embed, dict):
            continue
        for key, url_key in (("image", "url"), ("thumbnail", "url"), ("author", "icon_url"), ("footer", "icon_url")):
            part = embed.get(key)
            if isinstance(part, dict) and str(part.get(url_key, "")).startswith("attachment://"):
                f = by_name.get(part[url_key][len("attachment://") :])
                if f is not None:
                    url = fake._file_payload(f)["url"]
                    part[url_key] = url
                    part["proxy_" + url_key] = url
    for c in m.walk_components():
        for media in (c.get("media"), c.get("file")):
            if isinstance(media, dict) and str(media.get("url", "")).startswith("attachment://"):
                f = by_name.get(media["url"][len("attachment://") :])
                if f is not None:
                    payload = fake._file_payload(f)
                    media.update(
                        {
                            "proxy_url": payload["url"],
                            "content_type": f.content_type,
                            "attachment_id": str(f.id),
                            "loading_state": 2,
                            "flags": 0,
                        }
                    )
        for item in c.get("items") or []:
            media = item.get("media") if isinstance(item, dict) else None
            if isinstance(media, dict) and str(media.get("url", "")).startswith("attachment://"):
                f = by_name.get(media["url"][len("attachment://") :])
                if f is not None:
                    payload = fake._file_payload(f)
                    media.update(
                        {
                            "proxy_url": payload["url"],
                            "content_type": f.content_type,
                            "attachment_id": str(f.id),
                            "loading_state": 2,
                            "flags": 0,
                        }
                    )
