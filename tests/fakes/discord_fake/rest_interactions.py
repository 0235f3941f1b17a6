"""REST handlers: interaction callbacks and interaction webhooks (followups, @original) (mixin of FakeDiscord)."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from aiohttp import web

from ._base import (
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    DiscordHTTPError,
    _truthy,
)
from .objects import (
    FakeFile,
    FakeInteraction,
    FakeMessage,
    RecordedRequest,
)
from .spec import (
    _CALLBACK_SCHEMAS,
    _autocomplete_problems,
    _modal_problems,
    _path_body_pointer,
    _schema_pointer,
)


class InteractionsRestMixin:
    # ------------------------------------------------------------------ REST handlers: interactions

    async def _h_callback(
        self, request: web.Request, rec: RecordedRequest, interaction_id: str, token: str
    ) -> dict | web.StreamResponse | None:
        now = asyncio.get_running_loop().time()
        inter = self._interactions_by_id.get(int(interaction_id))
        if inter is None or inter.token != token:
            raise DiscordHTTPError(404, 10062, "Unknown interaction")
        if inter.response is not None:
            raise DiscordHTTPError(400, 40060, "Interaction has already been acknowledged.")
        if (
            self.interaction_timeout is not None
            and inter.dispatched_at is not None
            and now - inter.dispatched_at > self.interaction_timeout
        ):
            raise DiscordHTTPError(404, 10062, "Unknown interaction")
        body = rec.json if isinstance(rec.json, dict) else {}
        rtype = body.get("type")
        data = body.get("data") or {}
        self._check_upload_size(rec.files, inter.channel_id)
        if self.validate:
            schema = _CALLBACK_SCHEMAS.get(rtype) if isinstance(rtype, int) else None
            if schema is None:
                self._spec_check(
                    _path_body_pointer("/interactions/{interaction_id}/{interaction_token}/callback", "post"),
                    body,
                    rec,
                    "create_interaction_response",
                )
            else:
                self._spec_check(_schema_pointer(schema), body, rec, "create_interaction_response")
        allowed = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}.get(inter.type, set())
        if inter.type == 5 and inter.message is None:
            allowed = {4, 5}
        if rtype not in allowed:
            self._limits_error(
                rec,
                "create_interaction_response",
                [
                    (
                        ["type"],
                        "INTERACTION_RESPONSE_TYPE_INVALID",
                        f"Callback type {rtype} is not valid for interaction type {inter.type}",
                    )
                ],
            )
        problems: list[tuple[list[Any], str, str]] = []
        attachments: list[FakeFile] = []
        if rtype in (4, 7):
            existing = inter.message if rtype == 7 else None
            attachments, problems = self._build_attachments(data, rec.files, existing)
            problems += [
                (["data", *p], c, msg)
                for p, c, msg in self._message_problems(data, final_attachments=attachments, existing=existing)
            ]
        elif rtype == 8:
            problems += _autocomplete_problems(data)
        elif rtype == 9:
            problems += _modal_problems(data)
        self._limits_error(rec, "create_interaction_response", problems)

        resource: dict | None = None
        if rtype == 4:
            inter.original = self._new_message(
                channel_id=inter.channel_id,
                author_id=self.bot_user_id,
                body=data,
                attachments=attachments,
                kind="original",
                interaction=inter,
            )
            resource = {"type": 4, "message": self.message_payload(inter.original)}
        elif rtype == 5:
            flags = FLAG_LOADING | (int(data.get("flags") or 0) & FLAG_EPHEMERAL)
            inter.original = self._new_message(
                channel_id=inter.channel_id,
                author_id=self.bot_user_id,
                body={"flags": flags},
                attachments=[],
                kind="original",
                interaction=inter,
            )
            inter._deferred_pending = True
            resource = {"type": 5, "message": self.message_payload(inter.original)}
        elif rtype == 6:
            inter.original = inter.message
        elif rtype == 7:
            assert inter.message is not None
            self._edit_message(inter.message, data, attachments, clear_loading=False)
            inter.original = inter.message
            resource = {"type": 7, "message": self.message_payload(inter.message)}

        inter.response = copy.deepcopy(body)
        inter.response_type = rtype
        if inter.dispatched_at is not None:
            inter.response_latency = now - inter.dispatched_at
        inter.responded.set()

        if not _truthy(request.query.get("with_response")):
            return None
        interaction_obj: dict[str, Any] = {"id": str(inter.id), "type": inter.type}
        if inter.original is not None and rtype in (4, 5, 7):
            interaction_obj["response_message_id"] = str(inter.original.id)
            interaction_obj["response_message_loading"] = rtype == 5
            interaction_obj["response_message_ephemeral"] = inter.original.ephemeral
        if inter.channel_id:
            interaction_obj["channel_id"] = str(inter.channel_id)
        if inter.guild_id:
            interaction_obj["guild_id"] = str(inter.guild_id)
        result: dict[str, Any] = {"interaction": interaction_obj}
        if resource is not None:
            result["resource"] = resource
        return result

    def _webhook_interaction(self, app_id: str, token: str) -> FakeInteraction:
        inter = self._interactions_by_token.get(token)
        if inter is None or inter.expired:
            raise DiscordHTTPError(401, 50027, "Invalid Webhook Token")
        if int(app_id) != self.app_id:
            raise DiscordHTTPError(404, 10015, "Unknown Webhook")
        return inter

    def _webhook_message(self, inter: FakeInteraction, message_id: str) -> FakeMessage:
        if message_id == "@original":
            m = inter.original
            if m is None and inter.response_type in (6, 7) and inter.message is not None:
                m = inter.message
        else:
            m = next((f for f in inter.followups if str(f.id) == message_id), None)
            if m is None and inter.original is not None and str(inter.original.id) == message_id:
                m = inter.original
        if m is None or m.deleted:
            raise DiscordHTTPError(404, 10008, "Unknown Message")
        return m

    async def _h_execute_webhook(
        self, request: web.Request, rec: RecordedRequest, app_id: str, token: str
    ) -> dict | None:
        inter = self._webhook_interaction(app_id, token)
        if inter.response is None:
            raise DiscordHTTPError(404, 10015, "Unknown Webhook")
        body = rec.json if isinstance(rec.json, dict) else {}
        self._check_upload_size(rec.files, inter.channel_id)
        self._spec_check(_schema_pointer("IncomingWebhookRequestPartial"), body, rec, "execute_webhook")
        if inter._deferred_pending and inter.original is not None and not inter.original.deleted:
            # the first followup after a "thinking" defer completes the loading message (keeping its ephemerality)
            m = inter.original
            attachments, problems = self._build_attachments(body, rec.files, m)
            problems += self._message_problems(body, final_attachments=attachments, existing=m)
            self._limits_error(rec, "execute_webhook", problems)
            self._edit_message(m, body, attachments, clear_loading=True)
            m.edits -= 1  # completing a deferral is not a user-visible edit
            m.edited_at = None
            inter._deferred_pending = False
            if m not in inter.followups:
                inter.followups.append(m)
        else:
            attachments, problems = self._build_attachments(body, rec.files, None)
            problems += self._message_problems(body, final_attachments=attachments)
            self._limits_error(rec, "execute_webhook", problems)
            m = self._new_message(
                channel_id=inter.channel_id,
                author_id=self.bot_user_id,
                body=body,
                attachments=attachments,
                kind="followup",
                interaction=inter,
            )
            inter.followups.append(m)
        if _truthy(request.query.get("wait")):
            return self.message_payload(m)
        return None

    async def _h_webhook_get(
        self, request: web.Request, rec: RecordedRequest, app_id: str, token: str, message_id: str
    ) -> dict:
        inter = self._webhook_interaction(app_id, token)
        return self.message_payload(self._webhook_message(inter, message_id))

    async def _h_webhook_edit(
        self, request: web.Request, rec: RecordedRequest, app_id: str, token: str, message_id: str
    ) -> dict:
        inter = self._webhook_interaction(app_id, token)
        m = self._webhook_message(inter, message_id)
        body = rec.json if isinstance(rec.json, dict) else {}
        self._check_upload_size(rec.files, m.channel_id)
        pointer = (
            "/webhooks/{webhook_id}/{webhook_token}/messages/@original"
            if message_id == "@original"
            else "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"
        )
        self._spec_check(_path_body_pointer(pointer, "patch"), body, rec, "update_webhook_message")
        attachments, problems = self._build_attachments(body, rec.files, m)
        problems += self._message_problems(body, final_attachments=attachments, existing=m)
        self._limits_error(rec, "update_webhook_message", problems)
        was_loading = m.loading
        self._edit_message(m, body, attachments, clear_loading=True)
        if was_loading and m is inter.original:
            inter._deferred_pending = False
        return self.message_payload(m)

    async def _h_webhook_delete(
        self, request: web.Request, rec: RecordedRequest, app_id: str, token: str, message_id: str
    ) -> None:
        inter = self._webhook_interaction(app_id, token)
        self._delete_message(self._webhook_message(inter, message_id))
        return None
