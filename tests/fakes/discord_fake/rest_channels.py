"""REST handlers: channels, DMs, messages and reactions (mixin of FakeDiscord)."""

from __future__ import annotations

from aiohttp import web

from ._base import (
    FLAG_EPHEMERAL,
    P_ATTACH_FILES,
    P_MANAGE_MESSAGES,
    P_SEND_MESSAGES,
    P_VIEW_CHANNEL,
    DiscordHTTPError,
    _error_tree,
    _form_error,
    _snowflake,
    _unquote,
)
from .objects import (
    FakeMessage,
    RecordedRequest,
)
from .spec import (
    _schema_pointer,
)


class ChannelsRestMixin:
    # ------------------------------------------------------------------ REST handlers: channels & messages

    async def _h_get_channel(self, request: web.Request, rec: RecordedRequest, channel_id: str) -> dict:
        return self._channel_payload(self._channel(int(channel_id)))

    async def _h_create_dm(self, request: web.Request, rec: RecordedRequest) -> dict:
        body = rec.json or {}
        self._spec_check(_schema_pointer("CreatePrivateChannelRequest"), body, rec, "create_dm")
        try:
            uid = int(body["recipient_id"])
        except (KeyError, TypeError, ValueError):
            raise _form_error(_error_tree(["recipient_id"], "BASE_TYPE_REQUIRED", "This field is required")) from None
        for ch in self.channels.values():
            if ch.guild_id is None and ch.recipient_id == uid:
                return self._channel_payload(ch)
        return self._channel_payload(self.add_channel(None, _snowflake(), recipient_id=uid))

    async def _h_typing(self, request: web.Request, rec: RecordedRequest, channel_id: str) -> None:
        self._channel(int(channel_id))
        return None

    async def _h_create_message(self, request: web.Request, rec: RecordedRequest, channel_id: str) -> dict:
        cid = int(channel_id)
        channel = self._channel(cid)
        body = rec.json if isinstance(rec.json, dict) else {}
        perms = self.bot_channel_permissions(cid)
        if channel.guild_id is None and channel.recipient_id in self.dms_disabled:
            raise DiscordHTTPError(403, 50007, "Cannot send messages to this user")
        if not (perms & P_VIEW_CHANNEL and perms & P_SEND_MESSAGES) or (rec.files and not perms & P_ATTACH_FILES):
            raise DiscordHTTPError(403, 50013, "Missing Permissions")
        self._check_upload_size(rec.files, cid)
        self._spec_check(_schema_pointer("MessageCreateRequest"), body, rec, "create_message")
        if body.get("enforce_nonce") and body.get("nonce") is not None:
            previous = self._remembered_nonce((self.bot_user_id, cid, str(body["nonce"])))
            if previous is not None:
                return self.message_payload(previous)
        attachments, problems = self._build_attachments(body, rec.files, None)
        problems += self._message_problems(body, final_attachments=attachments)
        ref = body.get("message_reference")
        if isinstance(ref, dict) and ref.get("message_id") is not None:
            target = self._messages_by_id.get(int(ref["message_id"]))
            if target is None or target.deleted:
                if ref.get("fail_if_not_exists", True):
                    problems.append((["message_reference"], "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"))
            else:
                body = {
                    **body,
                    "message_reference": {
                        "type": 0,
                        "message_id": str(target.id),
                        "channel_id": str(target.channel_id),
                        **({"guild_id": str(target.guild_id)} if target.guild_id else {}),
                    },
                }
        self._limits_error(rec, "create_message", problems)
        if body.get("flags"):
            body = {**body, "flags": int(body["flags"]) & ~FLAG_EPHEMERAL}  # ephemeral only via interactions
        m = self._new_message(
            channel_id=cid, author_id=self.bot_user_id, body=body, attachments=attachments, kind="channel"
        )
        if body.get("enforce_nonce") and body.get("nonce") is not None:
            self._nonces[(self.bot_user_id, cid, str(body["nonce"]))] = (self.clock(), m)
        return self.message_payload(m)

    def _remembered_nonce(self, key: tuple[int, int, str]) -> FakeMessage | None:
        """The message posted with this nonce, if Discord still remembers it (younger than ``nonce_ttl``)."""
        entry = self._nonces.get(key)
        if entry is None:
            return None
        posted_at, message = entry
        if self.nonce_ttl is not None and self.clock() - posted_at >= self.nonce_ttl:
            del self._nonces[key]
            return None
        return message

    async def _h_list_messages(self, request: web.Request, rec: RecordedRequest, channel_id: str) -> list:
        cid = int(channel_id)
        self._channel(cid)
        q = request.query
        limit = max(1, min(100, int(q.get("limit", 50))))
        msgs = [m for m in self.messages if m.channel_id == cid and not m.deleted and not m.ephemeral]
        msgs.sort(key=lambda m: m.id)
        if "before" in q:
            msgs = [m for m in msgs if m.id < int(q["before"])]
            msgs = msgs[-limit:]
        elif "after" in q:
            msgs = [m for m in msgs if m.id > int(q["after"])][:limit]
        elif "around" in q:
            around = int(q["around"])
            before = [m for m in msgs if m.id < around][-(limit // 2) :]
            after = [m for m in msgs if m.id >= around][: limit - len(before)]
            msgs = before + after
        else:
            msgs = msgs[-limit:]
        return [self.message_payload(m) for m in reversed(msgs)]

    async def _h_get_message(
        self, request: web.Request, rec: RecordedRequest, channel_id: str, message_id: str
    ) -> dict:
        return self.message_payload(self._find_message(int(channel_id), int(message_id)))

    async def _h_edit_message(
        self, request: web.Request, rec: RecordedRequest, channel_id: str, message_id: str
    ) -> dict:
        m = self._find_message(int(channel_id), int(message_id))
        if m.author_id != self.bot_user_id:
            raise DiscordHTTPError(403, 50005, "Cannot edit a message authored by another user")
        body = rec.json if isinstance(rec.json, dict) else {}
        self._check_upload_size(rec.files, m.channel_id)
        self._spec_check(_schema_pointer("MessageEditRequestPartial"), body, rec, "update_message")
        attachments, problems = self._build_attachments(body, rec.files, m)
        problems += self._message_problems(body, final_attachments=attachments, existing=m)
        self._limits_error(rec, "update_message", problems)
        self._edit_message(m, body, attachments, clear_loading=False)
        return self.message_payload(m)

    async def _h_delete_message(
        self, request: web.Request, rec: RecordedRequest, channel_id: str, message_id: str
    ) -> None:
        m = self._find_message(int(channel_id), int(message_id))
        if m.author_id != self.bot_user_id and not self.bot_channel_permissions(m.channel_id) & P_MANAGE_MESSAGES:
            raise DiscordHTTPError(403, 50013, "Missing Permissions")
        self._delete_message(m)
        return None

    async def _h_add_reaction(
        self, request: web.Request, rec: RecordedRequest, channel_id: str, message_id: str, emoji: str
    ) -> None:
        m = self._find_message(int(channel_id), int(message_id))
        m.reactions.setdefault(_unquote(emoji), set()).add(self.bot_user_id)
        return None

    async def _h_remove_reaction(
        self, request: web.Request, rec: RecordedRequest, channel_id: str, message_id: str, emoji: str
    ) -> None:
        m = self._find_message(int(channel_id), int(message_id))
        m.reactions.get(_unquote(emoji), set()).discard(self.bot_user_id)
        return None
