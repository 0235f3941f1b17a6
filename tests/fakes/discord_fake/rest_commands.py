"""REST handlers: application command registration (mixin of FakeDiscord)."""

from __future__ import annotations

import copy
import re
from typing import Any

from aiohttp import web

from ._base import (
    DiscordHTTPError,
    _snowflake,
)
from .objects import (
    RecordedRequest,
)
from .spec import (
    _option_problems,
    _path_body_pointer,
    _schema_pointer,
)


class CommandsRestMixin:
    # ------------------------------------------------------------------ REST handlers: application commands

    def _command_list(self, guild_id: str | None) -> list[dict]:
        if guild_id is None:
            return self._global_commands
        gid = int(guild_id)
        if gid not in self.guilds:
            raise DiscordHTTPError(403, 50001, "Missing Access")
        return self._guild_commands.setdefault(gid, [])

    def _store_command(self, data: dict, guild_id: str | None, existing: dict | None) -> dict:
        cmd = copy.deepcopy(data)
        cmd["id"] = existing["id"] if existing else str(_snowflake())
        cmd["application_id"] = str(self.app_id)
        cmd["version"] = str(_snowflake())
        cmd.setdefault("type", 1)
        cmd.setdefault("description", "" if cmd["type"] != 1 else cmd.get("description"))
        cmd.setdefault("options", [])
        cmd.setdefault("default_member_permissions", None)
        cmd.setdefault("nsfw", False)
        if guild_id is not None:
            cmd["guild_id"] = str(guild_id)
        else:
            cmd.setdefault("contexts", None)
            cmd.setdefault("integration_types", [0])
        return cmd

    def _command_problems(self, commands: list[dict]) -> list[tuple[list[Any], str, str]]:
        problems: list[tuple[list[Any], str, str]] = []
        seen: set[tuple[int, str]] = set()
        for i, cmd in enumerate(commands):
            if not isinstance(cmd, dict):
                continue
            ctype = cmd.get("type") or 1
            name = cmd.get("name") or ""
            if (ctype, name) in seen:
                problems.append(
                    ([i, "name"], "APPLICATION_COMMAND_ALREADY_EXISTS", "Application command names must be unique")
                )
            seen.add((ctype, name))
            if ctype == 1:
                if not re.fullmatch(r"[-_\w]{1,32}", name) or name != name.lower():
                    problems.append(([i, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"))
                if not cmd.get("description"):
                    problems.append(([i, "description"], "BASE_TYPE_REQUIRED", "This field is required"))
                problems += _option_problems(cmd.get("options") or [], [i, "options"])
        if sum(1 for c in commands if isinstance(c, dict) and (c.get("type") or 1) == 1) > 100:
            problems.append(
                ([], "APPLICATION_COMMANDS_TOO_MANY", "Maximum number of application commands reached (100)")
            )
        return problems

    async def _h_put_commands(
        self, request: web.Request, rec: RecordedRequest, app_id: str, guild_id: str | None = None
    ) -> list:
        self._check_app(app_id)
        target = self._command_list(guild_id)
        body = rec.json if rec.json is not None else []
        pointer_path = (
            "/applications/{application_id}/guilds/{guild_id}/commands"
            if guild_id is not None
            else "/applications/{application_id}/commands"
        )
        self._spec_check(_path_body_pointer(pointer_path, "put"), body, rec, "bulk_set_commands")
        self._limits_error(rec, "bulk_set_commands", self._command_problems(body))
        by_key = {((c.get("type") or 1), c["name"]): c for c in target}
        new = [self._store_command(c, guild_id, by_key.get(((c.get("type") or 1), c["name"]))) for c in body]
        target[:] = new
        return copy.deepcopy(new)

    async def _h_get_commands(
        self, request: web.Request, rec: RecordedRequest, app_id: str, guild_id: str | None = None
    ) -> list:
        self._check_app(app_id)
        return copy.deepcopy(self._command_list(guild_id))

    async def _h_post_command(
        self, request: web.Request, rec: RecordedRequest, app_id: str, guild_id: str | None = None
    ) -> dict:
        self._check_app(app_id)
        target = self._command_list(guild_id)
        body = rec.json if isinstance(rec.json, dict) else {}
        self._spec_check(_schema_pointer("ApplicationCommandCreateRequest"), body, rec, "create_command")
        self._limits_error(rec, "create_command", self._command_problems([body]))
        key = (body.get("type") or 1, body.get("name"))
        existing = next((c for c in target if (c.get("type") or 1, c["name"]) == key), None)
        cmd = self._store_command(body, guild_id, existing)
        if existing is not None:
            target[target.index(existing)] = cmd
        else:
            target.append(cmd)
        return copy.deepcopy(cmd)

    def _find_command_by_id(self, command_id: str, guild_id: str | None) -> tuple[list[dict], dict]:
        target = self._command_list(guild_id)
        for c in target:
            if c["id"] == command_id:
                return target, c
        raise DiscordHTTPError(404, 10063, "Unknown application command")

    async def _h_get_command(
        self, request: web.Request, rec: RecordedRequest, app_id: str, command_id: str, guild_id: str | None = None
    ) -> dict:
        self._check_app(app_id)
        return copy.deepcopy(self._find_command_by_id(command_id, guild_id)[1])

    async def _h_patch_command(
        self, request: web.Request, rec: RecordedRequest, app_id: str, command_id: str, guild_id: str | None = None
    ) -> dict:
        self._check_app(app_id)
        _, cmd = self._find_command_by_id(command_id, guild_id)
        body = rec.json if isinstance(rec.json, dict) else {}
        self._spec_check(_schema_pointer("ApplicationCommandPatchRequestPartial"), body, rec, "update_command")
        cmd.update(copy.deepcopy(body))
        cmd["version"] = str(_snowflake())
        return copy.deepcopy(cmd)

    async def _h_delete_command(
        self, request: web.Request, rec: RecordedRequest, app_id: str, command_id: str, guild_id: str | None = None
    ) -> None:
        self._check_app(app_id)
        target, cmd = self._find_command_by_id(command_id, guild_id)
        target.remove(cmd)
        return None

    def _check_app(self, app_id: str) -> None:
        if int(app_id) != self.app_id:
            raise DiscordHTTPError(403, 50001, "Missing Access")
