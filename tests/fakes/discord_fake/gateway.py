"""The gateway: HELLO/IDENTIFY/RESUME/heartbeats, dispatches, dropping connections (mixin of FakeDiscord)."""

# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import json
import secrets

from aiohttp import WSMsgType, web


class _Session:
    def __init__(self, session_id: str, intents: int, shard: list[int] | None) -> None:
        self.id = session_id
        self.seq = 0
        self.intents = intents
        self.shard = shard
        self.buffer: list[dict] = []  # sent dispatches (for RESUME replay)
        self.conn: _Conn | None = None


class _Conn:
    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.lock = asyncio.Lock()
        self.session: _Session | None = None


class GatewayMixin:
    # ------------------------------------------------------------------ gateway

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        conn = _Conn(ws)
        self._conns.add(conn)
        try:
            await self._send(
                conn, {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None, "t": None}
            )
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    payload = json.loads(msg.data)
                except ValueError:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                self.gateway_received.append(payload)
                await self._on_gateway_payload(conn, payload)
        finally:
            self._conns.discard(conn)
            if conn.session is not None and conn.session.conn is conn:
                conn.session.conn = None
            if self._active is conn:
                self._active = None
                self.ready.clear()
            self._notify()
        return ws

    async def _send(self, conn: _Conn, payload: dict) -> None:
        async with conn.lock:
            await conn.ws.send_str(json.dumps(payload))

    async def _on_gateway_payload(self, conn: _Conn, payload: dict) -> None:
        op = payload.get("op")
        d = payload.get("d")
        if op == 1:
            await self._send(conn, {"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            if not isinstance(d, dict) or d.get("token") != self.token:
                await conn.ws.close(code=4004, message=b"Authentication failed.")
                return
            self.identify_count += 1
            session = _Session(secrets.token_hex(16), int(d.get("intents") or 0), d.get("shard"))
            self._sessions[session.id] = session
            session.conn = conn
            conn.session = session
            self._active = conn
            ready = {
                "v": 10,
                "user": {**self._user(self.bot_user_id), "verified": True, "mfa_enabled": False},
                "guilds": [{"id": str(gid), "unavailable": True} for gid in self.guilds],
                "session_id": session.id,
                "session_type": "normal",
                "resume_gateway_url": self.gateway_url,
                "application": {"id": str(self.app_id), "flags": 0},
                "shard": session.shard or [0, 1],
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "geo_ordered_rtc_regions": [],
                "guild_join_requests": [],
                "user_settings": {},
                "auth": {},
            }
            if self.hold_ready is not None and not self.hold_ready.is_set():
                # Answer heartbeats meanwhile: the READY goes out from its own task once the test releases it.
                task = asyncio.create_task(self._send_ready(conn, ready, self.hold_ready))
                self._held_ready.add(task)
                task.add_done_callback(self._held_ready.discard)
                self._notify()
                return
            await self._send_ready(conn, ready, None)
        elif op == 6:
            session = self._sessions.get((d or {}).get("session_id", ""))
            if session is None or (d or {}).get("token") != self.token:
                await self._send(conn, {"op": 9, "d": False, "s": None, "t": None})
                return
            session.conn = conn
            conn.session = session
            self._active = conn
            last = int((d or {}).get("seq") or 0)
            for event in [e for e in session.buffer if e["s"] > last]:
                await self._send(conn, event)
            await self._dispatch_on(conn, "RESUMED", {})
            self.ready.set()
            self._notify()
        elif op == 8:
            gid = int((d or {}).get("guild_id") or 0)
            if gid in self.guilds:
                members = [self._member_payload(gid, uid) for uid in self.guilds[gid].members]
                wanted = (d or {}).get("user_ids")
                if wanted:
                    wanted_ids = {int(x) for x in (wanted if isinstance(wanted, list) else [wanted])}
                    members = [m for m in members if int(m["user"]["id"]) in wanted_ids]
                chunk = {
                    "guild_id": str(gid),
                    "members": members,
                    "chunk_index": 0,
                    "chunk_count": 1,
                    "not_found": [],
                    "nonce": (d or {}).get("nonce"),
                }
                await self._dispatch_on(conn, "GUILD_MEMBERS_CHUNK", chunk)

    async def _send_ready(self, conn: _Conn, ready: dict, hold: asyncio.Event | None) -> None:
        if hold is not None:
            await hold.wait()
            if conn.ws.closed or self._active is not conn:
                return  # the bot went away (or reconnected) while READY was held
        await self._dispatch_on(conn, "READY", ready)
        self.ready_sent += 1
        for gid in list(self.guilds):
            await self._dispatch_on(conn, "GUILD_CREATE", self.guild_payload(gid))
        self.ready.set()
        self._notify()

    async def _dispatch_on(self, conn: _Conn, event: str, data: dict) -> None:
        session = conn.session
        assert session is not None
        async with conn.lock:
            session.seq += 1
            payload = {"op": 0, "t": event, "s": session.seq, "d": data}
            session.buffer.append(payload)
            del session.buffer[:-200]
            await conn.ws.send_str(json.dumps(payload))

    async def dispatch(self, event: str, data: dict) -> None:
        """Send an op 0 event to the bot's current gateway session."""
        conn = self._active
        if conn is None or conn.ws.closed:
            raise RuntimeError("the bot is not connected to the fake gateway")
        await self._dispatch_on(conn, event, data)

    async def push_guild(self, guild_id: int) -> None:
        """(Re)send GUILD_CREATE for a guild, e.g. after changing it while the bot is connected."""
        await self.dispatch("GUILD_CREATE", self.guild_payload(guild_id))

    async def drop_connection(self, code: int = 4000, *, resumable: bool = True) -> None:
        """Close the bot's websocket (discord.py reconnects and RESUMEs for codes like 4000).

        ``resumable=False`` also forgets the session, as Discord does when a session has timed out: the bot's
        RESUME is then answered with op 9 INVALID_SESSION (d=false) and it has to IDENTIFY afresh (discord.py
        then dials ``DiscordWebSocket.DEFAULT_GATEWAY``, not the resume URL)."""
        conn = self._active
        if conn is not None:
            if not resumable and conn.session is not None:
                self._sessions.pop(conn.session.id, None)
            await conn.ws.close(code=code, message=b"fake dropped the connection")

    async def wait_connected(self, timeout: float = 10) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self.ready.wait()
        except TimeoutError:
            raise TimeoutError(f"the bot did not IDENTIFY/RESUME with the fake within {timeout}s") from None
