"""SQLite store (aiosqlite, WAL): jobs and their result images survive a restart.

A job moves queued → running → generated → delivered (or failed / cancelled). Each transition is
committed before the effect it records is relied on, so after a crash at any point the queue knows what
to do: running jobs run again, generated jobs are posted (Discord's nonce makes the post idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import json
import logging
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import aiosqlite

from easel.jobs import Job, JobState, Reply, StoredImage
from easel.presets import Preset, PresetScope
from easel.request import DrawRequest

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

MIGRATIONS: tuple[str, ...] = (
    # 1: jobs and images
    """
    CREATE TABLE jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        user_id INTEGER NOT NULL,
        guild_id INTEGER,
        channel_id INTEGER NOT NULL,
        request TEXT NOT NULL,
        init_image BLOB,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        backend TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        error_id TEXT,
        reply TEXT,
        result_message_id INTEGER,
        elapsed REAL
    );
    CREATE INDEX jobs_state ON jobs(state);
    CREATE INDEX jobs_user ON jobs(user_id, state);
    CREATE TABLE images (
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        data BLOB,
        infotext TEXT NOT NULL,
        seed INTEGER NOT NULL,
        PRIMARY KEY (job_id, idx)
    );
    """,
    # 2: per-guild / per-channel settings (scope 'guild' or 'channel'), values as JSON
    """
    CREATE TABLE settings (
        scope TEXT NOT NULL,
        scope_id INTEGER NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_by INTEGER,
        updated_at REAL NOT NULL,
        PRIMARY KEY (scope, scope_id, key)
    );
    CREATE INDEX jobs_user_created ON jobs(user_id, created_at);
    """,
    # 3: every message a result was posted in (a result too large for one upload is split into parts; part 0
    # carries the buttons and is also jobs.result_message_id). No foreign key: a part is recorded the moment
    # Discord accepts it, whatever else happens to the job row.
    """
    CREATE TABLE result_parts (
        job_id TEXT NOT NULL,
        part INTEGER NOT NULL,
        message_id INTEGER NOT NULL,
        channel_id INTEGER,
        via TEXT NOT NULL DEFAULT 'channel',
        posted_at REAL NOT NULL,
        PRIMARY KEY (job_id, part)
    );
    CREATE INDEX result_parts_message ON result_parts(message_id);
    """,
    # 4 (presets): a member's (scope 'user', scope_id = user id) or a server's (scope 'server', scope_id = guild id);
    # each member's default preset; a server's overrides of the model profiles (easel.profiles), as JSON.
    """
    CREATE TABLE presets (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        scope TEXT NOT NULL,
        scope_id INTEGER NOT NULL,
        name TEXT NOT NULL COLLATE NOCASE,
        options TEXT NOT NULL,
        created_by INTEGER NOT NULL,
        updated_at REAL NOT NULL,
        UNIQUE (scope, scope_id, name)
    );
    CREATE TABLE preset_defaults (
        user_id INTEGER PRIMARY KEY,
        preset_id INTEGER NOT NULL REFERENCES presets(id) ON DELETE CASCADE
    );
    CREATE TABLE model_profiles (
        guild_id INTEGER NOT NULL,
        model TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_by INTEGER,
        updated_at REAL NOT NULL,
        PRIMARY KEY (guild_id, model)
    );
    """,
    # 5 (horde): the backend's own id of a job's request (the AI Horde's request id), stored the moment the
    # backend accepts it, so a restart resumes that request instead of sending the job a second time
    """
    ALTER TABLE jobs ADD COLUMN remote_id TEXT;
    """,
    # 6 (i18n): the languages of a job: its requester's (private answers) and its public result's (NULL: English)
    """
    ALTER TABLE jobs ADD COLUMN locale TEXT;
    ALTER TABLE jobs ADD COLUMN public_locale TEXT;
    """,
)


def _take_process_lock(lock_path: Path) -> int:
    """An advisory lock on a file beside the database, held while the store is open: a second Easel on the same
    database stops at start. The database itself is not locked, so an admin's read-only sqlite3 shell works."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreError(f"another Easel process is using the database (it holds {lock_path}); stop it first") from None
    except OSError:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _release_process_lock(fd: int | None) -> None:
    if fd is None:
        return
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    with contextlib.suppress(OSError):
        os.close(fd)


_COLUMNS = (
    "seq, id, state, user_id, guild_id, channel_id, request, created_at, started_at, finished_at, "
    "backend, attempts, error, error_id, reply, result_message_id, elapsed, remote_id, locale, public_locale"
)


def _reply_to_json(reply: Reply | None) -> str | None:
    if reply is None:
        return None
    return json.dumps({"application_id": reply.application_id, "token": reply.token, "created_at": reply.created_at})


def _reply_from_json(text: str | None) -> Reply | None:
    if not text:
        return None
    d = json.loads(text)
    return Reply(int(d["application_id"]), d["token"], float(d["created_at"]))


@dataclass(frozen=True)
class ResultPart:
    """One posted message of a result: ``part`` 0 is the first (with the buttons). ``via``: how it was posted
    ("channel", "followup" through the interaction webhook, or "dm")."""

    part: int
    message_id: int
    channel_id: int | None
    via: str = "channel"


class StoreError(RuntimeError):
    """The database could not be opened, or an operation on it failed (locked, disk full, corrupt). The message
    is one line, fit for a log or an admin."""


# The operations that write: only their success shows the store is usable again.
_WRITES = frozenset(
    {
        "add_job",
        "update",
        "save_result",
        "mark_delivered",
        "purge_results",
        "set_setting",
        "reset_settings",
        "add_result_part",
        "save_preset",
        "delete_preset",
        "set_default_preset",
        "set_model_profile",
    }
)


def _serialized(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """One store operation at a time: a multi-statement write (store the images, then mark the job) must not
    interleave with another coroutine's statements and commits on the shared connection.

    A failed operation is rolled back before the next one runs (otherwise the next commit on the shared
    connection would commit half of it), marks the store unhealthy, and raises ``StoreError``.
    """

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        store: Store = args[0]  # type: ignore[assignment]
        async with store._lock:
            try:
                result = await method(*args, **kwargs)
            except (sqlite3.Error, ValueError) as exc:
                # ValueError: aiosqlite's "no active connection" after close.
                await store._rollback()
                store._set_health(False, f"{type(exc).__name__}: {exc}")
                raise StoreError(f"database {method.__name__} failed: {exc}") from exc
            if method.__name__ in _WRITES:  # a read succeeds under another connection's write lock (WAL)
                store._set_health(True, None)
            return result

    return wrapper


class Store:
    def __init__(self, db: aiosqlite.Connection, lock_file: int | None = None) -> None:
        self._db = db
        self._lock = asyncio.Lock()
        self._lock_file = lock_file
        self.healthy = True
        self.last_error: str | None = None
        self.failures = 0  # operations that failed since the store was opened

    @classmethod
    async def open(cls, path: str | Path, *, busy_timeout: float = 1.0) -> Store:
        """Open (and migrate) the database. Raises ``StoreError`` with a one-line reason when the file is not
        a database, cannot be created, or another Easel process has it open.

        ``busy_timeout``: how long one statement waits for another connection's write lock (an admin's sqlite3
        shell in a transaction) before it fails; the queue retries failed writes with backoff.
        """
        lock_fd: int | None = None
        if str(path) != ":memory:":
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                lock_fd = _take_process_lock(Path(f"{path}.lock"))
            except OSError as exc:
                raise StoreError(f"cannot use the database {path}: {exc.strerror or exc}") from exc
        try:
            db = await aiosqlite.connect(str(path), timeout=busy_timeout)
        except sqlite3.Error as exc:
            _release_process_lock(lock_fd)
            raise StoreError(f"cannot open the database {path}: {exc}") from exc
        db.row_factory = aiosqlite.Row
        store = cls(db, lock_fd)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA foreign_keys=ON")
            await store._migrate()
        except sqlite3.DatabaseError as exc:
            await store.close()
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise StoreError(f"the database {path} is locked by another program: {exc}") from exc
            raise StoreError(f"{path} is not a usable Easel database: {exc}") from exc
        except BaseException:
            await store.close()
            raise
        return store

    async def close(self) -> None:
        try:
            await self._db.close()
        finally:
            _release_process_lock(self._lock_file)
            self._lock_file = None

    async def _rollback(self) -> None:
        with contextlib.suppress(Exception):
            if self._db.in_transaction:
                await self._db.rollback()

    def _set_health(self, ok: bool, error: str | None) -> None:
        if ok and not self.healthy:
            log.info("store: available again")
        elif not ok:
            self.failures += 1
            if self.healthy:
                log.warning("store: unavailable: %s", error)
        self.healthy = ok
        self.last_error = error

    async def _migrate(self) -> None:
        async with self._db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        if version > len(MIGRATIONS):
            raise StoreError(
                f"database schema version {version} is newer than this Easel ({len(MIGRATIONS)}); update Easel"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            log.info("store: migrating schema to version %d", number)
            await self._db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")

    # ---- jobs -------------------------------------------------------------------------------

    @_serialized
    async def add_job(self, job: Job) -> Job:
        cur = await self._db.execute(
            "INSERT INTO jobs (id, state, user_id, guild_id, channel_id, request, init_image, created_at, reply, "
            "locale, public_locale) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job.id,
                job.state.value,
                job.user_id,
                job.guild_id,
                job.channel_id,
                json.dumps(job.request.to_record()),
                job.request.init_image,
                job.created_at,
                _reply_to_json(job.reply),
                job.locale,
                job.public_locale,
            ),
        )
        await self._db.commit()
        job.seq = int(cur.lastrowid or 0)
        return job

    @_serialized
    async def update(self, job: Job, **fields: Any) -> None:
        """Write the fields in one commit, then set them on ``job`` (a failed write leaves ``job`` as it was)."""
        columns = []
        values: list[Any] = []
        for key, value in fields.items():
            if key == "state":
                value = JobState(value).value
            elif key == "reply":
                value = _reply_to_json(value)
            columns.append(f"{key} = ?")
            values.append(value)
        values.append(job.id)
        await self._db.execute(f"UPDATE jobs SET {', '.join(columns)} WHERE id = ?", values)
        await self._db.commit()
        for key, value in fields.items():
            setattr(job, key, value)

    def _row_to_job(self, row: aiosqlite.Row, init_image: bytes | None) -> Job:
        return Job(
            id=row["id"],
            request=DrawRequest.from_record(json.loads(row["request"]), init_image),
            user_id=row["user_id"],
            channel_id=row["channel_id"],
            guild_id=row["guild_id"],
            state=JobState(row["state"]),
            seq=row["seq"],
            created_at=row["created_at"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            backend=row["backend"],
            attempts=row["attempts"],
            error=row["error"],
            error_id=row["error_id"],
            reply=_reply_from_json(row["reply"]),
            result_message_id=row["result_message_id"],
            elapsed=row["elapsed"],
            remote_id=row["remote_id"],
            locale=row["locale"] or "en-US",  # a job stored before the languages: English
            public_locale=row["public_locale"],
        )

    async def _jobs(
        self,
        where: str,
        params: Iterable[Any] = (),
        *,
        with_image: bool = True,
        order: str = "seq",
        limit: int = -1,
    ) -> list[Job]:
        image_col = "init_image" if with_image else "NULL AS init_image"
        sql = f"SELECT {_COLUMNS}, {image_col} FROM jobs WHERE {where} ORDER BY {order} LIMIT {int(limit)}"
        async with self._db.execute(sql, tuple(params)) as cur:
            rows = await cur.fetchall()
        return [self._row_to_job(r, r["init_image"]) for r in rows]

    @_serialized
    async def active_jobs(self) -> list[Job]:
        """Jobs not finished yet (queued, running, generated), oldest first; without their init images (the
        queue loads one with ``load_init_image`` when its job starts)."""
        return await self._jobs("state IN ('queued', 'running', 'generated')", with_image=False)

    @_serialized
    async def load_init_image(self, job_id: str) -> bytes | None:
        """The init image (img2img / upscale source) stored with a job, None if it has none or it was purged."""
        async with self._db.execute("SELECT init_image FROM jobs WHERE id = ?", (job_id,)) as cur:
            row = await cur.fetchone()
        return row[0] if row else None

    @_serialized
    async def get_job(self, job_id: str) -> Job | None:
        jobs = await self._jobs("id = ?", (job_id,))
        return jobs[0] if jobs else None

    @_serialized
    async def recent_jobs(self, user_id: int, limit: int = 10) -> list[Job]:
        return await self._jobs("user_id = ?", (user_id,), with_image=False, order="seq DESC", limit=limit)

    @_serialized
    async def job_by_message(self, message_id: int) -> Job | None:
        """The job whose result (any of its messages, when it was split) is ``message_id``."""
        jobs = await self._jobs(
            "result_message_id = ? OR id IN (SELECT job_id FROM result_parts WHERE message_id = ?)",
            (message_id, message_id),
            with_image=False,
        )
        return jobs[0] if jobs else None

    @_serialized
    async def count_by_state(self) -> dict[str, int]:
        async with self._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state") as cur:
            return {row[0]: row[1] for row in await cur.fetchall()}

    # ---- results ----------------------------------------------------------------------------

    @_serialized
    async def save_result(self, job: Job, images: list[StoredImage], elapsed: float) -> None:
        """Store the images and move the job to GENERATED in one transaction."""
        now = time.time()
        await self._db.execute("DELETE FROM images WHERE job_id = ?", (job.id,))
        await self._db.executemany(
            "INSERT INTO images (job_id, idx, data, infotext, seed) VALUES (?, ?, ?, ?, ?)",
            [(job.id, im.index, im.data, im.infotext, im.seed) for im in images],
        )
        await self._db.execute(
            "UPDATE jobs SET state = 'generated', finished_at = ?, elapsed = ?, error = NULL WHERE id = ?",
            (now, elapsed, job.id),
        )
        await self._db.commit()
        job.state, job.finished_at, job.elapsed = JobState.GENERATED, now, elapsed

    @_serialized
    async def load_result(self, job_id: str) -> list[StoredImage]:
        async with self._db.execute(
            "SELECT idx, data, infotext, seed FROM images WHERE job_id = ? ORDER BY idx", (job_id,)
        ) as cur:
            rows = await cur.fetchall()
        return [StoredImage(r["idx"], r["data"] or b"", r["infotext"], r["seed"]) for r in rows]

    @_serialized
    async def mark_delivered(self, job: Job, message_id: int | None, *, keep_images: bool) -> None:
        await self._db.execute(
            "UPDATE jobs SET state = 'delivered', result_message_id = ? WHERE id = ?",
            (message_id, job.id),
        )
        if not keep_images:
            await self._db.execute("UPDATE jobs SET init_image = NULL WHERE id = ?", (job.id,))
            await self._db.execute("UPDATE images SET data = NULL WHERE job_id = ?", (job.id,))
        await self._db.commit()
        job.state, job.result_message_id = JobState.DELIVERED, message_id

    @_serialized
    async def add_result_part(
        self, job_id: str, part: int, message_id: int, *, channel_id: int | None = None, via: str = "channel"
    ) -> None:
        """Record that part ``part`` of a job's result was posted as ``message_id`` (committed at once, so a crash
        right after posting the next part never makes this one be posted again)."""
        await self._db.execute(
            "INSERT INTO result_parts (job_id, part, message_id, channel_id, via, posted_at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (job_id, part) DO UPDATE SET message_id = excluded.message_id, "
            "channel_id = excluded.channel_id, via = excluded.via, posted_at = excluded.posted_at",
            (job_id, part, message_id, channel_id, via, time.time()),
        )
        await self._db.commit()

    @_serialized
    async def result_parts(self, job_id: str) -> list[ResultPart]:
        """The recorded messages of a job's result, first part first (empty for results posted before schema 3)."""
        async with self._db.execute(
            "SELECT part, message_id, channel_id, via FROM result_parts WHERE job_id = ? ORDER BY part", (job_id,)
        ) as cur:
            rows = await cur.fetchall()
        return [ResultPart(r["part"], r["message_id"], r["channel_id"], r["via"]) for r in rows]

    @_serialized
    async def purge_results(self, older_than: float) -> int:
        """Drop image bytes of delivered jobs finished before ``older_than``; infotexts stay."""
        old_jobs = "(SELECT id FROM jobs WHERE state IN ('delivered', 'failed', 'cancelled') AND finished_at < ?)"
        cur = await self._db.execute(
            f"UPDATE images SET data = NULL WHERE data IS NOT NULL AND job_id IN {old_jobs}", (older_than,)
        )
        await self._db.execute(
            f"UPDATE jobs SET init_image = NULL WHERE init_image IS NOT NULL AND id IN {old_jobs}", (older_than,)
        )
        await self._db.commit()
        return cur.rowcount

    # ---- settings ---------------------------------------------------------------------------

    @_serialized
    async def get_settings(self, scope: str, scope_id: int) -> dict[str, Any]:
        async with self._db.execute(
            "SELECT key, value FROM settings WHERE scope = ? AND scope_id = ?", (scope, scope_id)
        ) as cur:
            return {row[0]: json.loads(row[1]) for row in await cur.fetchall()}

    @_serialized
    async def set_setting(self, scope: str, scope_id: int, key: str, value: Any, *, by: int | None = None) -> None:
        await self._db.execute(
            "INSERT INTO settings (scope, scope_id, key, value, updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (scope, scope_id, key) DO UPDATE SET value = excluded.value, "
            "updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            (scope, scope_id, key, json.dumps(value), by, time.time()),
        )
        await self._db.commit()

    @_serialized
    async def reset_settings(self, scope: str, scope_id: int, key: str | None = None) -> int:
        if key is None:
            cur = await self._db.execute("DELETE FROM settings WHERE scope = ? AND scope_id = ?", (scope, scope_id))
        else:
            cur = await self._db.execute(
                "DELETE FROM settings WHERE scope = ? AND scope_id = ? AND key = ?", (scope, scope_id, key)
            )
        await self._db.commit()
        return cur.rowcount

    @_serialized
    async def count_user_jobs_since(self, user_id: int, since: float, guild_id: int | None = None) -> int:
        """Jobs a user submitted since ``since`` (in one guild, if given) that were not cancelled (daily quotas)."""
        sql = "SELECT COUNT(*) FROM jobs WHERE user_id = ? AND created_at >= ? AND state != 'cancelled'"
        params: tuple[Any, ...] = (user_id, since)
        if guild_id is not None:
            sql += " AND guild_id = ?"
            params += (guild_id,)
        async with self._db.execute(sql, params) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    # ---- presets and a server's model profiles ------------------------------------------------

    @staticmethod
    def _preset(row: aiosqlite.Row) -> Preset:
        return Preset(
            id=row["id"],
            scope=PresetScope(row["scope"]),
            scope_id=row["scope_id"],
            name=row["name"],
            options=json.loads(row["options"]),
            created_by=row["created_by"],
            updated_at=row["updated_at"],
        )

    async def _one_preset(self, where: str, params: tuple[Any, ...]) -> Preset | None:
        sql = f"SELECT id, scope, scope_id, name, options, created_by, updated_at FROM presets WHERE {where}"
        async with self._db.execute(sql, params) as cur:
            row = await cur.fetchone()
        return self._preset(row) if row else None

    @_serialized
    async def save_preset(self, scope: str, scope_id: int, name: str, options: Mapping[str, Any], *, by: int) -> Preset:
        """Save a preset, replacing the one of that name (names ignore case) in the same scope."""
        await self._db.execute(
            "INSERT INTO presets (scope, scope_id, name, options, created_by, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (scope, scope_id, name) DO UPDATE SET name = excluded.name, options = excluded.options, "
            "created_by = excluded.created_by, updated_at = excluded.updated_at",
            (str(scope), scope_id, name, json.dumps(dict(options)), by, time.time()),
        )
        await self._db.commit()
        preset = await self._one_preset("scope = ? AND scope_id = ? AND name = ?", (str(scope), scope_id, name))
        assert preset is not None
        return preset

    @_serialized
    async def get_preset(self, scope: str, scope_id: int, name: str) -> Preset | None:
        return await self._one_preset("scope = ? AND scope_id = ? AND name = ?", (str(scope), scope_id, name))

    @_serialized
    async def preset_by_id(self, preset_id: int) -> Preset | None:
        return await self._one_preset("id = ?", (preset_id,))

    @_serialized
    async def list_presets(self, scope: str, scope_id: int) -> list[Preset]:
        async with self._db.execute(
            "SELECT id, scope, scope_id, name, options, created_by, updated_at FROM presets "
            "WHERE scope = ? AND scope_id = ? ORDER BY name",
            (str(scope), scope_id),
        ) as cur:
            return [self._preset(r) for r in await cur.fetchall()]

    @_serialized
    async def count_presets(self, scope: str, scope_id: int) -> int:
        async with self._db.execute(
            "SELECT COUNT(*) FROM presets WHERE scope = ? AND scope_id = ?", (str(scope), scope_id)
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    @_serialized
    async def delete_preset(self, preset_id: int) -> bool:
        """Delete a preset (and its being anyone's default)."""
        await self._db.execute("DELETE FROM preset_defaults WHERE preset_id = ?", (preset_id,))
        cur = await self._db.execute("DELETE FROM presets WHERE id = ?", (preset_id,))
        await self._db.commit()
        return cur.rowcount > 0

    @_serialized
    async def set_default_preset(self, user_id: int, preset_id: int | None) -> None:
        if preset_id is None:
            await self._db.execute("DELETE FROM preset_defaults WHERE user_id = ?", (user_id,))
        else:
            await self._db.execute(
                "INSERT INTO preset_defaults (user_id, preset_id) VALUES (?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET preset_id = excluded.preset_id",
                (user_id, preset_id),
            )
        await self._db.commit()

    @_serialized
    async def default_preset(self, user_id: int) -> Preset | None:
        return await self._one_preset("id = (SELECT preset_id FROM preset_defaults WHERE user_id = ?)", (user_id,))

    @_serialized
    async def get_model_profiles(self, guild_id: int) -> dict[str, dict[str, Any]]:
        """A server's overrides of the model profiles: model_name -> {key: value}."""
        async with self._db.execute("SELECT model, value FROM model_profiles WHERE guild_id = ?", (guild_id,)) as cur:
            return {row[0]: json.loads(row[1]) for row in await cur.fetchall()}

    @_serialized
    async def set_model_profile(
        self, guild_id: int, model: str, values: Mapping[str, Any], *, by: int | None = None
    ) -> None:
        """Replace a server's overrides of one model's profile (empty: none)."""
        if not values:
            await self._db.execute("DELETE FROM model_profiles WHERE guild_id = ? AND model = ?", (guild_id, model))
        else:
            await self._db.execute(
                "INSERT INTO model_profiles (guild_id, model, value, updated_by, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (guild_id, model) DO UPDATE SET value = excluded.value, "
                "updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                (guild_id, model, json.dumps(dict(values)), by, time.time()),
            )
        await self._db.commit()
