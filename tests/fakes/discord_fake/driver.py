"""Driving the bot: slash commands, autocomplete, clicks, modal submits, context menus (mixin of FakeDiscord)."""

# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import itertools
import secrets
from typing import Any

from ._base import (
    _snowflake,
)
from .objects import (
    FakeAttachment,
    FakeInteraction,
    FakeMessage,
)


class DriverMixin:
    # ------------------------------------------------------------------ driving the bot

    def _find_command(self, name: str, guild_id: int | None, ctype: int) -> dict:
        candidates = []
        if guild_id is not None:
            candidates += self._guild_commands.get(guild_id, [])
        candidates += self._global_commands
        for cmd in candidates:
            if cmd["name"] == name and (cmd.get("type") or 1) == ctype:
                if guild_id is None and "guild_id" in cmd:
                    continue
                return cmd
        known = [c["name"] for c in candidates]
        raise LookupError(f"no registered command {name!r} (type {ctype}) visible in guild {guild_id}; known: {known}")

    def _check_command_visible(self, cmd: dict, user_id: int, guild_id: int | None) -> None:
        contexts = cmd.get("contexts")
        context = 0 if guild_id is not None else 1
        if contexts is not None and context not in contexts:
            raise PermissionError(f"command {cmd['name']!r} is not available in context {context} ({contexts})")
        if guild_id is None and cmd.get("dm_permission") is False:
            raise PermissionError(f"command {cmd['name']!r} has dm_permission=False")
        required = cmd.get("default_member_permissions")
        if guild_id is not None and required not in (None, ""):
            required = int(required)
            perms = self.member_permissions(guild_id, user_id)
            if perms & required != required:
                raise PermissionError(f"user {user_id} lacks default_member_permissions {required} for {cmd['name']!r}")

    def _base_interaction(self, itype: int, *, user_id: int, guild_id: int | None, channel_id: int) -> dict:
        if guild_id is not None:
            if guild_id not in self.guilds:
                raise KeyError(f"unknown guild {guild_id}")
            if channel_id not in self.guilds[guild_id].channels:
                raise KeyError(f"unknown channel {channel_id} in guild {guild_id}")
            if user_id not in self.guilds[guild_id].members:
                self.add_member(guild_id, user_id)
        channel = self.channels.get(channel_id)
        if channel is None:
            if guild_id is not None:
                raise KeyError(f"unknown channel {channel_id}")
            channel = self.add_channel(None, channel_id, recipient_id=user_id)
        iid = _snowflake()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.app_id),
            "type": itype,
            "token": token,
            "version": 1,
            "channel_id": str(channel_id),
            "channel": self._channel_payload(channel),
            "locale": self.user_locales.get(user_id, "en-US"),
            "entitlements": [],
            "entitlement_sku_ids": [],
            "app_permissions": str(self.bot_channel_permissions(channel_id)),
            "attachment_size_limit": self.upload_limit(channel_id),
        }
        if guild_id is not None:
            payload["guild_id"] = str(guild_id)
            guild_locale = self.guild_locales.get(guild_id, "en-US")
            payload["guild"] = {"id": str(guild_id), "locale": guild_locale, "features": []}
            payload["guild_locale"] = guild_locale
            member = self._member_payload(guild_id, user_id)
            member["permissions"] = str(self.member_permissions(guild_id, user_id))
            payload["member"] = member
            payload["authorizing_integration_owners"] = {"0": str(guild_id)}
            payload["context"] = 0
        else:
            payload["user"] = self._user(user_id)
            payload["authorizing_integration_owners"] = {"0": str(user_id)}
            payload["context"] = 1
        return payload

    async def _send_interaction(
        self,
        itype: int,
        data: dict,
        *,
        user_id: int,
        guild_id: int | None,
        channel_id: int,
        message: FakeMessage | None = None,
        timeout: float = 10,
    ) -> FakeInteraction:
        await self.wait_connected(timeout)
        payload = self._base_interaction(itype, user_id=user_id, guild_id=guild_id, channel_id=channel_id)
        payload["data"] = data
        if message is not None:
            payload["message"] = self.message_payload(message)
        inter = FakeInteraction(
            id=int(payload["id"]),
            token=payload["token"],
            type=itype,
            data=data,
            payload=payload,
            user_id=user_id,
            guild_id=guild_id,
            channel_id=channel_id,
            message=message,
        )
        self.interactions.append(inter)
        self._interactions_by_id[inter.id] = inter
        self._interactions_by_token[inter.token] = inter
        inter.dispatched_at = asyncio.get_running_loop().time()
        await self.dispatch("INTERACTION_CREATE", payload)
        return inter

    def _build_options(
        self,
        defs: list[dict],
        values: dict[str, Any],
        resolved: dict[str, dict],
        *,
        guild_id: int | None,
        focused: str | None = None,
    ) -> list[dict]:
        by_name = {o["name"]: o for o in defs}
        out: list[dict] = []
        for name, value in values.items():
            if name not in by_name:
                raise ValueError(f"unknown option {name!r}; command options: {list(by_name)}")
            odef = by_name[name]
            otype = odef["type"]
            opt: dict[str, Any] = {"name": name, "type": otype}
            if name == focused:
                opt["value"] = str(value)
                opt["focused"] = True
                out.append(opt)
                continue
            opt["value"] = self._option_value(odef, value, resolved, guild_id=guild_id)
            out.append(opt)
        if focused is None:
            missing = [o["name"] for o in defs if o.get("required") and o["name"] not in values]
            if missing:
                raise ValueError(f"required options missing: {missing}")
        elif focused not in values:
            raise ValueError(f"focused option {focused!r} must be in options")
        return out

    def _option_value(self, odef: dict, value: Any, resolved: dict[str, dict], *, guild_id: int | None) -> Any:
        otype, name = odef["type"], odef["name"]
        choices = odef.get("choices")
        if otype == 3:
            if not isinstance(value, str):
                raise TypeError(f"option {name!r} is a string option, got {value!r}")
            if odef.get("min_length") is not None and len(value) < odef["min_length"]:
                raise ValueError(f"option {name!r} shorter than min_length {odef['min_length']}")
            if odef.get("max_length") is not None and len(value) > odef["max_length"]:
                raise ValueError(f"option {name!r} longer than max_length {odef['max_length']}")
        elif otype == 4:
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"option {name!r} is an integer option, got {value!r}")
        elif otype == 10:
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise TypeError(f"option {name!r} is a number option, got {value!r}")
        elif otype == 5:
            if not isinstance(value, bool):
                raise TypeError(f"option {name!r} is a boolean option, got {value!r}")
        if otype in (4, 10):
            if odef.get("min_value") is not None and value < odef["min_value"]:
                raise ValueError(f"option {name!r}={value} below min_value {odef['min_value']}")
            if odef.get("max_value") is not None and value > odef["max_value"]:
                raise ValueError(f"option {name!r}={value} above max_value {odef['max_value']}")
        if choices and otype in (3, 4, 10) and value not in [c["value"] for c in choices]:
            raise ValueError(f"option {name!r}={value!r} is not one of the choices {[c['value'] for c in choices]}")
        if otype == 11:
            if not isinstance(value, FakeAttachment):
                raise TypeError(f"option {name!r} is an attachment option: pass a FakeAttachment")
            self._files[value.id] = value
            resolved.setdefault("attachments", {})[str(value.id)] = self._file_payload(value)
            return str(value.id)
        if (
            otype in (6, 9)
            and (isinstance(value, int) and not isinstance(value, bool))
            and (otype == 6 or value in self.users)
        ):
            uid = int(value)
            resolved.setdefault("users", {})[str(uid)] = self._user(uid)
            if guild_id is not None and uid in self.guilds[guild_id].members:
                member = self._member_payload(guild_id, uid, with_user=False)
                member["permissions"] = str(self.member_permissions(guild_id, uid))
                resolved.setdefault("members", {})[str(uid)] = member
            return str(uid)
        if otype in (8, 9):
            rid = int(value)
            if guild_id is None or rid not in self.guilds[guild_id].roles:
                raise ValueError(f"unknown role {rid}")
            resolved.setdefault("roles", {})[str(rid)] = self.guilds[guild_id].roles[rid]
            return str(rid)
        if otype == 7:
            cid = int(value)
            ch = self.channels[cid]
            payload = self._channel_payload(ch)
            payload["permissions"] = str(self.bot_channel_permissions(cid))
            resolved.setdefault("channels", {})[str(cid)] = payload
            return str(cid)
        return value

    def _command_data(
        self,
        name: str,
        options: dict | list | None,
        *,
        guild_id: int | None,
        user_id: int,
        attachments: dict[str, FakeAttachment] | None,
        subcommand: str | None,
        focused: str | None = None,
    ) -> dict:
        cmd = self._find_command(name, guild_id, 1)
        self._check_command_visible(cmd, user_id, guild_id)
        data: dict[str, Any] = {"id": cmd["id"], "name": name, "type": 1}
        if "guild_id" in cmd:
            data["guild_id"] = cmd["guild_id"]
        resolved: dict[str, dict] = {}
        if isinstance(options, list):
            built = options  # raw option dicts, sent verbatim
        else:
            values = dict(options or {})
            values.update(attachments or {})
            defs = cmd.get("options") or []
            chain: list[tuple[int, str]] = []
            if subcommand:
                parts = subcommand.split()
                for part in parts:
                    sub = next((o for o in defs if o["name"] == part and o["type"] in (1, 2)), None)
                    if sub is None:
                        raise LookupError(f"no subcommand {part!r} in {name!r}")
                    chain.append((sub["type"], part))
                    defs = sub.get("options") or []
            elif any(o["type"] in (1, 2) for o in defs):
                raise ValueError(f"{name!r} has subcommands: pass subcommand=")
            built = self._build_options(defs, values, resolved, guild_id=guild_id, focused=focused)
            for stype, sname in reversed(chain):
                built = [{"name": sname, "type": stype, "options": built}]
        data["options"] = built
        if resolved:
            data["resolved"] = resolved
        return data

    async def invoke(
        self,
        name: str,
        options: dict | list | None = None,
        *,
        user_id: int,
        guild_id: int | None,
        channel_id: int,
        attachments: dict[str, FakeAttachment] | None = None,
        subcommand: str | None = None,
        timeout: float = 10,
    ) -> FakeInteraction:
        """A user runs slash command `name`. options: {option_name: value}; attachment options take a
        FakeAttachment (in `options` or in `attachments`); user options a user id; role/channel options ids.
        A list is sent verbatim as data.options.  subcommand: "sub" or "group sub"."""
        data = self._command_data(
            name, options, guild_id=guild_id, user_id=user_id, attachments=attachments, subcommand=subcommand
        )
        return await self._send_interaction(
            2, data, user_id=user_id, guild_id=guild_id, channel_id=channel_id, timeout=timeout
        )

    async def autocomplete(
        self,
        name: str,
        options: dict | None,
        focused: str,
        *,
        user_id: int,
        guild_id: int | None,
        channel_id: int,
        subcommand: str | None = None,
        timeout: float = 5,
    ) -> list[dict]:
        data = self._command_data(
            name, options, guild_id=guild_id, user_id=user_id, attachments=None, subcommand=subcommand, focused=focused
        )
        inter = await self._send_interaction(
            4, data, user_id=user_id, guild_id=guild_id, channel_id=channel_id, timeout=timeout
        )
        response = await inter.wait_response(timeout)
        if response.get("type") != 8:
            raise AssertionError(f"autocomplete answered with callback type {response.get('type')}")
        return list((response.get("data") or {}).get("choices") or [])

    async def click(
        self,
        message: FakeMessage,
        custom_id: str,
        *,
        user_id: int,
        guild_id: int | None,
        channel_id: int | None = None,
        values: list[str] | None = None,
        timeout: float = 10,
    ) -> FakeInteraction:
        """A user clicks a button / picks select values on `message` (the component must exist and be enabled)."""
        current = self._messages_by_id.get(message.id, message)
        if current.deleted:
            raise LookupError(f"message {current.id} was deleted")
        comp = current.find_component(custom_id)
        if comp is None:
            raise LookupError(f"no component {custom_id!r} on message {current.id}; has {current.all_custom_ids()}")
        if comp.get("disabled"):
            raise PermissionError(f"component {custom_id!r} is disabled")
        ctype = comp["type"]
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": ctype}
        if ctype == 2:
            if values is not None:
                raise ValueError("buttons take no values")
        else:
            values = list(values or [])
            lo, hi = comp.get("min_values", 1), comp.get("max_values", 1)
            if not lo <= len(values) <= hi:
                raise ValueError(f"select {custom_id!r} needs {lo}..{hi} values, got {values}")
            if ctype == 3:
                allowed = [o["value"] for o in comp.get("options") or []]
                bad = [v for v in values if v not in allowed]
                if bad:
                    raise ValueError(f"values {bad} not among select options {allowed}")
            data["values"] = [str(v) for v in values]
            if ctype in (5, 6, 7, 8):
                resolved: dict[str, dict] = {}
                for v in values:
                    kind = {5: 6, 6: 8, 7: 7, 8: 9}[ctype]
                    self._option_value({"type": kind, "name": custom_id}, int(v), resolved, guild_id=guild_id)
                data["resolved"] = resolved
        return await self._send_interaction(
            3,
            data,
            user_id=user_id,
            guild_id=guild_id,
            channel_id=channel_id or current.channel_id,
            message=current,
            timeout=timeout,
        )

    async def submit_modal(
        self,
        interaction_or_message: FakeInteraction | FakeMessage | None,
        custom_id: str,
        fields: dict[str, str],
        *,
        user_id: int,
        guild_id: int | None,
        channel_id: int,
        timeout: float = 10,
    ) -> FakeInteraction:
        """A user submits a modal.  Pass the interaction the bot answered with the modal (callback type 9): the
        submission mirrors that modal's layout and checks required/length rules.  A FakeMessage (or None) sends
        plain action rows of text inputs (the message is the one a modal-from-component came from)."""
        message: FakeMessage | None = None
        components: list[dict]
        if isinstance(interaction_or_message, FakeInteraction):
            inter = interaction_or_message
            message = inter.message
            if inter.response_type != 9:
                raise ValueError(f"{inter!r} was not answered with a modal (callback type 9)")
            modal = (inter.response or {}).get("data") or {}
            if modal.get("custom_id") != custom_id:
                raise ValueError(f"modal custom_id is {modal.get('custom_id')!r}, not {custom_id!r}")
            components = _modal_submission(modal.get("components") or [], dict(fields))
        else:
            message = interaction_or_message
            components = [
                {"type": 1, "id": i * 2 + 1, "components": [{"type": 4, "id": i * 2 + 2, "custom_id": k, "value": v}]}
                for i, (k, v) in enumerate(fields.items())
            ]
        data = {"custom_id": custom_id, "components": components}
        return await self._send_interaction(
            5, data, user_id=user_id, guild_id=guild_id, channel_id=channel_id, message=message, timeout=timeout
        )

    async def context_menu(
        self,
        name: str,
        message: FakeMessage | int,
        *,
        user_id: int,
        guild_id: int | None,
        channel_id: int | None = None,
        timeout: float = 10,
    ) -> FakeInteraction:
        """A user runs message context-menu command `name` on `message`; pass a user id instead of a FakeMessage to
        run a user context-menu command on that user (channel_id is then required)."""
        target = message
        if isinstance(target, FakeMessage):
            cmd = self._find_command(name, guild_id, 3)
            self._check_command_visible(cmd, user_id, guild_id)
            resolved = {"messages": {str(target.id): self.message_payload(target)}}
            data: dict[str, Any] = {
                "id": cmd["id"],
                "name": name,
                "type": 3,
                "target_id": str(target.id),
                "resolved": resolved,
            }
            channel_id = channel_id or target.channel_id
        else:
            cmd = self._find_command(name, guild_id, 2)
            self._check_command_visible(cmd, user_id, guild_id)
            res: dict[str, dict] = {}
            self._option_value({"type": 6, "name": "target"}, int(target), res, guild_id=guild_id)
            data = {"id": cmd["id"], "name": name, "type": 2, "target_id": str(target), "resolved": res}
            if channel_id is None:
                raise ValueError("channel_id is required for user commands")
        if "guild_id" in cmd:
            data["guild_id"] = cmd["guild_id"]
        return await self._send_interaction(
            2, data, user_id=user_id, guild_id=guild_id, channel_id=channel_id, timeout=timeout
        )


def _modal_submission(components: list[dict], fields: dict[str, Any]) -> list[dict]:
    """Build the MODAL_SUBMIT data.components mirroring the modal the bot sent."""
    counter = itertools.count(1)

    def submit_input(c: dict) -> dict:
        cid = c.get("custom_id")
        out: dict[str, Any] = {"type": c["type"], "id": c.get("id") or next(counter), "custom_id": cid}
        if c["type"] == 4:
            value = fields.pop(cid, None)
            if value is None:
                value = c.get("value") or ""
            if c.get("required", True) and not value:
                raise ValueError(f"modal text input {cid!r} is required")
            if c.get("min_length") is not None and value and len(value) < c["min_length"]:
                raise ValueError(f"modal text input {cid!r} shorter than min_length {c['min_length']}")
            if len(value) > (c.get("max_length") or 4000):
                raise ValueError(f"modal text input {cid!r} longer than max_length")
            out["value"] = value
        elif c["type"] in (3, 5, 6, 7, 8):
            value = fields.pop(cid, [])
            out["values"] = [str(v) for v in (value if isinstance(value, list) else [value])]
        return out

    result: list[dict] = []
    for c in components:
        if c.get("type") == 1:
            result.append(
                {
                    "type": 1,
                    "id": c.get("id") or next(counter),
                    "components": [submit_input(x) for x in c.get("components") or []],
                }
            )
        elif c.get("type") == 18:
            result.append({"type": 18, "id": c.get("id") or next(counter), "component": submit_input(c["component"])})
        elif c.get("type") == 10:
            result.append({"type": 10, "id": c.get("id") or next(counter)})
    if fields:
        raise ValueError(f"modal has no inputs named {list(fields)}")
    return result
