"""Request validation: spec checks and Discord-limit checks of message bodies (mixin of FakeDiscord)."""

from __future__ import annotations

from typing import Any

from ._base import (
    FLAG_COMPONENTS_V2,
    DiscordHTTPError,
    _error_tree,
    _form_error,
    _merge_trees,
)
from .messages import _media_refs
from .objects import (
    FakeFile,
    FakeMessage,
    RecordedRequest,
    _walk_components,
)
from .spec import (
    _best_leaf,
    _component_problems,
    _short_message,
    _spec_errors,
)


class ValidationMixin:
    # ------------------------------------------------------------------ validation

    def _spec_check(self, pointer: str, body: Any, rec: RecordedRequest, label: str) -> None:
        if not self.validate:
            return
        errors = _spec_errors(pointer, body)
        if not errors:
            return
        tree: dict = {}
        for err in errors:
            leaf = _best_leaf(err)
            message = _short_message(leaf)
            tree = _merge_trees(tree, _error_tree(leaf.absolute_path, "SPEC_VALIDATION", message))
            self.validation_errors.append(
                {
                    "source": "spec",
                    "route": label,
                    "method": rec.method,
                    "path": rec.path,
                    "location": "/".join(str(p) for p in leaf.absolute_path),
                    "message": message,
                    "schema_path": "/".join(str(p) for p in leaf.absolute_schema_path),
                }
            )
        raise _form_error(tree)

    def _limits_error(self, rec: RecordedRequest, label: str, problems: list[tuple[list[Any], str, str]]) -> None:
        if not problems:
            return
        tree: dict = {}
        for path, code, message in problems:
            tree = _merge_trees(tree, _error_tree(path, code, message))
            self.validation_errors.append(
                {
                    "source": "limits",
                    "route": label,
                    "method": rec.method,
                    "path": rec.path,
                    "location": "/".join(str(p) for p in path),
                    "message": message,
                    "code": code,
                }
            )
        raise _form_error(tree)

    def _check_upload_size(self, files: list[FakeFile], channel_id: int | None) -> None:
        total = sum(f.size for f in files)
        if files and total > self.upload_limit(channel_id):
            raise DiscordHTTPError(413, 40005, "Request entity too large")

    def _message_problems(
        self,
        body: dict,
        *,
        final_attachments: list[FakeFile],
        existing: FakeMessage | None = None,
    ) -> list[tuple[list[Any], str, str]]:
        problems: list[tuple[list[Any], str, str]] = []
        content = body.get("content")
        if content is None and existing is not None:
            content = existing.content
        if isinstance(content, str) and len(content) > 2000:
            problems.append((["content"], "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length."))
        embeds = body.get("embeds")
        if embeds is None and existing is not None:
            embeds = existing.embeds
        embeds = embeds or []
        if len(embeds) > 10:
            problems.append((["embeds"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."))
        total = 0
        for i, e in enumerate(embeds):
            if not isinstance(e, dict):
                continue
            for key, limit in (("title", 256), ("description", 4096)):
                value = e.get(key) or ""
                total += len(value)
                if len(value) > limit:
                    problems.append(
                        (["embeds", i, key], "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
                    )
            fields = e.get("fields") or []
            if len(fields) > 25:
                problems.append((["embeds", i, "fields"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."))
            for j, f in enumerate(fields):
                name, value = f.get("name") or "", f.get("value") or ""
                total += len(name) + len(value)
                if not name or not value:
                    problems.append((["embeds", i, "fields", j], "BASE_TYPE_REQUIRED", "This field is required"))
                if len(name) > 256:
                    problems.append(
                        (["embeds", i, "fields", j, "name"], "BASE_TYPE_MAX_LENGTH", "Must be 256 or fewer in length.")
                    )
                if len(value) > 1024:
                    problems.append(
                        (
                            ["embeds", i, "fields", j, "value"],
                            "BASE_TYPE_MAX_LENGTH",
                            "Must be 1024 or fewer in length.",
                        )
                    )
            footer = (e.get("footer") or {}).get("text") or ""
            author = (e.get("author") or {}).get("name") or ""
            total += len(footer) + len(author)
            if len(footer) > 2048:
                problems.append(
                    (["embeds", i, "footer", "text"], "BASE_TYPE_MAX_LENGTH", "Must be 2048 or fewer in length.")
                )
            if len(author) > 256:
                problems.append(
                    (["embeds", i, "author", "name"], "BASE_TYPE_MAX_LENGTH", "Must be 256 or fewer in length.")
                )
        if total > 6000:
            problems.append((["embeds"], "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"))
        if len(final_attachments) > 10:
            problems.append((["attachments"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."))

        flags = body.get("flags")
        if flags is None:
            flags = existing.flags if existing is not None else 0
        v2 = bool((flags or 0) & FLAG_COMPONENTS_V2) or (existing is not None and existing.components_v2)
        components = body.get("components")
        if components is None and existing is not None:
            components = existing.components
        components = components or []
        if v2:
            if content or embeds:
                problems.append(
                    (
                        ["content" if content else "embeds"],
                        "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                        "The 'content' and 'embeds' fields cannot be used when using MessageFlags.IS_COMPONENTS_V2",
                    )
                )
            count = sum(1 for _ in _walk_components(components))
            if count > 40:
                problems.append((["components"], "BASE_TYPE_MAX_LENGTH", "Must be 40 or fewer in total."))
        else:
            if len(components) > 5:
                problems.append((["components"], "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length."))
            for i, row in enumerate(components):
                if isinstance(row, dict) and row.get("type") != 1:
                    problems.append(
                        (
                            ["components", i, "type"],
                            "COMPONENT_LAYOUT_INVALID",
                            "Top-level components must be action rows unless the message has IS_COMPONENTS_V2",
                        )
                    )
        problems += _component_problems(components, ["components"])
        filenames = {f.filename for f in final_attachments}
        for path, url in _media_refs(components, ["components"]):
            if url.startswith("attachment://") and url[len("attachment://") :] not in filenames:
                problems.append((path, "UNFURLED_MEDIA_ITEM_ATTACHMENT_NOT_FOUND", f"No attachment named {url!r}"))
        am = body.get("allowed_mentions")
        if isinstance(am, dict):
            parse = am.get("parse") or []
            if "users" in parse and am.get("users"):
                problems.append(
                    (
                        ["allowed_mentions"],
                        "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                        'parse:["users"] and users: [ids] are mutually exclusive.',
                    )
                )
            if "roles" in parse and am.get("roles"):
                problems.append(
                    (
                        ["allowed_mentions"],
                        "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                        'parse:["roles"] and roles: [ids] are mutually exclusive.',
                    )
                )
        if existing is None and not (
            content or embeds or components or final_attachments or body.get("sticker_ids") or body.get("poll")
        ):
            problems.append(([], "MESSAGE_EMPTY", "Cannot send an empty message"))
        return problems
