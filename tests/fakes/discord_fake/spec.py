"""Checking request bodies: Discord's OpenAPI document and the message/component/option limits it does not express."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote as _urlquote

from ._base import (
    _SPEC_URI,
    SPEC_PATH,
)

_USER_MENTION = re.compile(r"<@!?(\d{15,21})>")
_ROLE_MENTION = re.compile(r"<@&(\d{15,21})>")


def resolve_mentions(
    content: str, allowed_mentions: dict | None, *, replied_user_id: int | None = None
) -> tuple[set[int], set[int], bool]:
    """Which users / roles / @everyone the message would ping, per Discord's allowed_mentions rules.

    Permissions (MENTION_EVERYONE, role mentionable) are deliberately ignored: the question answered is what
    the bot's *allowed_mentions* lets through.
    """
    content = content or ""
    users = {int(x) for x in _USER_MENTION.findall(content)}
    roles = {int(x) for x in _ROLE_MENTION.findall(content)}
    everyone = "@everyone" in content or "@here" in content
    if allowed_mentions is None:
        if replied_user_id is not None:
            users.add(replied_user_id)
        return users, roles, everyone
    parse = set(allowed_mentions.get("parse") or [])
    allowed_users = {int(x) for x in allowed_mentions.get("users") or [] if x is not None}
    allowed_roles = {int(x) for x in allowed_mentions.get("roles") or [] if x is not None}
    pinged_users = users if "users" in parse else users & allowed_users
    pinged_roles = roles if "roles" in parse else roles & allowed_roles
    pinged_everyone = everyone and "everyone" in parse
    if replied_user_id is not None and allowed_mentions.get("replied_user"):
        pinged_users = pinged_users | {replied_user_id}
    return set(pinged_users), set(pinged_roles), pinged_everyone


@functools.lru_cache(maxsize=1)
def _spec_registry() -> tuple[Any, dict]:
    import referencing
    from referencing.jsonschema import DRAFT202012

    spec = json.loads(SPEC_PATH.read_text())
    # discord.py sends some snowflakes as ints (attachment ids in payload_json, allowed_mentions users/roles),
    # which Discord accepts: let the snowflake schema take a non-negative integer as well.
    snow = spec["components"]["schemas"]["SnowflakeType"]
    spec["components"]["schemas"]["SnowflakeType"] = {
        "anyOf": [snow, {"type": "integer", "minimum": 0}],
    }
    resource = referencing.Resource(contents=spec, specification=DRAFT202012)
    registry = referencing.Registry().with_resource(_SPEC_URI, resource)
    return registry, spec


@functools.lru_cache(maxsize=64)
def _validator_for(pointer: str) -> Any:
    import jsonschema

    registry, _ = _spec_registry()
    schema = {"$ref": f"{_SPEC_URI}#{_urlquote(pointer, safe='/~')}"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _schema_pointer(name: str) -> str:
    return f"/components/schemas/{name}"


def _path_body_pointer(path: str, method: str) -> str:
    escaped = path.replace("~", "~0").replace("/", "~1")
    return f"/paths/{escaped}/{method}/requestBody/content/application~1json/schema"


_CALLBACK_SCHEMAS = {
    1: "PongInteractionCallbackRequest",
    4: "CreateMessageInteractionCallbackRequest",
    5: "CreateMessageInteractionCallbackRequest",
    6: "UpdateMessageInteractionCallbackRequest",
    7: "UpdateMessageInteractionCallbackRequest",
    8: "ApplicationCommandAutocompleteCallbackRequest",
    9: "ModalInteractionCallbackRequest",
    12: "LaunchActivityInteractionCallbackRequest",
}


def _spec_errors(pointer: str, body: Any) -> list[Any]:
    validator = _validator_for(pointer)
    return sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))


def _short_message(error: Any) -> str:
    """jsonschema's message embeds the whole offending value (a 5000-char content...): keep it short."""
    instance = repr(error.instance)
    if len(instance) > 60:
        instance = instance[:57] + "..."
    if error.validator in ("maxLength", "minLength", "maxItems", "minItems", "maximum", "minimum"):
        return f"{error.validator} {error.validator_value} violated by {instance}"
    message = error.message
    return message if len(message) <= 300 else message[:297] + "..."


def _best_leaf(error: Any) -> Any:
    """For oneOf/anyOf failures pick the branch whose `type` discriminator matches (e.g. the button schema for a
    {"type": 2} component) instead of jsonschema's generic guess, then descend into it."""
    import jsonschema.exceptions

    if not error.context:
        return error
    branches: dict[Any, list[Any]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    matching = [errs for errs in branches.values() if not any(list(e.path) == ["type"] for e in errs)]
    if len(matching) == 1:
        return _best_leaf(jsonschema.exceptions.best_match(matching[0]))
    return _best_leaf(jsonschema.exceptions.best_match(error.context))


def _component_problems(components: list[dict], path: list[Any]) -> list[tuple[list[Any], str, str]]:
    problems: list[tuple[list[Any], str, str]] = []
    seen: dict[str, list[Any]] = {}

    def visit(items: list[dict], where: list[Any]) -> None:
        for i, c in enumerate(items or []):
            if not isinstance(c, dict):
                continue
            here = [*where, i]
            ctype = c.get("type")
            cid = c.get("custom_id")
            if isinstance(cid, str):
                if len(cid) > 100:
                    problems.append(([*here, "custom_id"], "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length."))
                if not cid:
                    problems.append(([*here, "custom_id"], "BASE_TYPE_MIN_LENGTH", "Must be 1 or more in length."))
                if cid in seen:
                    problems.append(
                        (
                            [*here, "custom_id"],
                            "COMPONENT_CUSTOM_ID_DUPLICATED",
                            "Component custom id cannot be duplicated",
                        )
                    )
                seen[cid] = here
            if ctype == 1:
                children = c.get("components") or []
                buttons = [x for x in children if isinstance(x, dict) and x.get("type") == 2]
                selects = [x for x in children if isinstance(x, dict) and x.get("type") in (3, 5, 6, 7, 8)]
                if not children:
                    problems.append(([*here, "components"], "BASE_TYPE_MIN_LENGTH", "Must be 1 or more in length."))
                if len(buttons) > 5:
                    problems.append(([*here, "components"], "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length."))
                if selects and len(children) > 1:
                    problems.append(
                        (
                            [*here, "components"],
                            "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                            "A select menu must be alone in its action row",
                        )
                    )
            elif ctype == 2:
                style = c.get("style")
                label = c.get("label") or ""
                if len(label) > 80:
                    problems.append(([*here, "label"], "BASE_TYPE_MAX_LENGTH", "Must be 80 or fewer in length."))
                if style == 5:
                    if not c.get("url") or cid:
                        problems.append((here, "BUTTON_COMPONENT_URL_REQUIRED", "Link buttons need url, no custom_id"))
                elif style != 6 and not cid:
                    problems.append(
                        ([*here, "custom_id"], "BUTTON_COMPONENT_CUSTOM_ID_REQUIRED", "A custom id is required")
                    )
                if style != 6 and not label and not c.get("emoji"):
                    problems.append((here, "BUTTON_COMPONENT_LABEL_OR_EMOJI_REQUIRED", "Label or emoji required"))
            elif ctype in (3, 5, 6, 7, 8):
                if ctype == 3:
                    opts = c.get("options") or []
                    if not 1 <= len(opts) <= 25:
                        problems.append(
                            ([*here, "options"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 25 in length.")
                        )
                    values = [o.get("value") for o in opts if isinstance(o, dict)]
                    if len(set(values)) != len(values):
                        problems.append(
                            (
                                [*here, "options"],
                                "SELECT_COMPONENT_OPTION_VALUE_DUPLICATED",
                                "Select option values must be unique",
                            )
                        )
                    for j, o in enumerate(opts):
                        if isinstance(o, dict) and len(o.get("label") or "") > 100:
                            problems.append(
                                (
                                    [*here, "options", j, "label"],
                                    "BASE_TYPE_MAX_LENGTH",
                                    "Must be 100 or fewer in length.",
                                )
                            )
                lo, hi = c.get("min_values", 1), c.get("max_values", 1)
                if lo is not None and hi is not None and lo > hi:
                    problems.append(
                        ([*here, "min_values"], "SELECT_COMPONENT_MIN_MAX_INVALID", "min_values > max_values")
                    )
                if len(c.get("placeholder") or "") > 150:
                    problems.append(([*here, "placeholder"], "BASE_TYPE_MAX_LENGTH", "Must be 150 or fewer in length."))
            elif ctype == 12:
                if not 1 <= len(c.get("items") or []) <= 10:
                    problems.append(([*here, "items"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 10 in length."))
            elif ctype == 10:
                if len(c.get("content") or "") > 4000:
                    problems.append(([*here, "content"], "BASE_TYPE_MAX_LENGTH", "Must be 4000 or fewer in length."))
            if isinstance(c.get("components"), list):
                visit(c["components"], [*here, "components"])
            if isinstance(c.get("accessory"), dict):
                visit([c["accessory"]], [*here, "accessory"])

    visit(components, path)
    return problems


def _option_problems(options: list[dict], path: list[Any]) -> list[tuple[list[Any], str, str]]:
    problems: list[tuple[list[Any], str, str]] = []
    if len(options) > 25:
        problems.append((path, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."))
    seen_optional = False
    names: set[str] = set()
    for i, o in enumerate(options):
        if not isinstance(o, dict):
            continue
        name = o.get("name") or ""
        if not re.fullmatch(r"[-_\w]{1,32}", name) or name != name.lower():
            problems.append(([*path, i, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Option name is invalid"))
        if name in names:
            problems.append(([*path, i, "name"], "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", "Duplicate name"))
        names.add(name)
        if o.get("type") in (1, 2):
            problems += _option_problems(o.get("options") or [], [*path, i, "options"])
            continue
        if o.get("required"):
            if seen_optional:
                problems.append(
                    (
                        [*path, i, "required"],
                        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                        "Required options must be placed before non-required options",
                    )
                )
        else:
            seen_optional = True
        if o.get("choices") and o.get("autocomplete"):
            problems.append(
                (
                    [*path, i],
                    "APPLICATION_COMMAND_OPTION_CHOICES_AUTOCOMPLETE",
                    "Autocomplete cannot be set with choices",
                )
            )
    return problems


def _autocomplete_problems(data: dict) -> list[tuple[list[Any], str, str]]:
    problems: list[tuple[list[Any], str, str]] = []
    choices = data.get("choices") or []
    if len(choices) > 25:
        problems.append((["data", "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."))
    for i, c in enumerate(choices):
        if not isinstance(c, dict):
            continue
        if not 1 <= len(str(c.get("name") or "")) <= 100:
            problems.append(
                (["data", "choices", i, "name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
            )
        if isinstance(c.get("value"), str) and len(c["value"]) > 100:
            problems.append(
                (["data", "choices", i, "value"], "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
            )
    return problems


def _modal_problems(data: dict) -> list[tuple[list[Any], str, str]]:
    problems: list[tuple[list[Any], str, str]] = []
    if len(data.get("title") or "") > 45:
        problems.append((["data", "title"], "BASE_TYPE_MAX_LENGTH", "Must be 45 or fewer in length."))
    comps = data.get("components") or []
    if not 1 <= len(comps) <= 5:
        problems.append((["data", "components"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length."))
    for path, c in _walk_with_path(comps, ["data", "components"]):
        if c.get("type") == 4:
            if len(c.get("label") or "") > 45:
                problems.append(([*path, "label"], "BASE_TYPE_MAX_LENGTH", "Must be 45 or fewer in length."))
            if len(c.get("value") or "") > 4000:
                problems.append(([*path, "value"], "BASE_TYPE_MAX_LENGTH", "Must be 4000 or fewer in length."))
            if (c.get("max_length") or 0) > 4000:
                problems.append(([*path, "max_length"], "NUMBER_TYPE_MAX", "Must be 4000 or less."))
        if c.get("type") == 18 and len(c.get("label") or "") > 45:
            problems.append(([*path, "label"], "BASE_TYPE_MAX_LENGTH", "Must be 45 or fewer in length."))
        cid = c.get("custom_id")
        if isinstance(cid, str) and len(cid) > 100:
            problems.append(([*path, "custom_id"], "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length."))
    return problems


def _walk_with_path(components: list[dict], path: list[Any]) -> Iterator[tuple[list[Any], dict]]:
    for i, c in enumerate(components or []):
        if not isinstance(c, dict):
            continue
        here = [*path, i]
        yield here, c
        yield from _walk_with_path(c.get("components") or [], [*here, "components"])
        if isinstance(c.get("component"), dict):
            yield from _walk_with_path([c["component"]], [*here, "component"])
