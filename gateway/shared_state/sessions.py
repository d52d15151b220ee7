"""Login sessions in Redis: the source of truth for every replica.

- One key per session, ``lr:s:<sha256(session id)>``: the id itself (the cookie's value)
  is never stored. Its value is the record ``{"u", "p", "c"}`` (username, password,
  created, wall-clock seconds) as JSON, sealed (AES-GCM under ``LR_SECRET_KEY``, the
  key name as associated data).
- Expiry is the key's TTL: each lookup sets it to the idle period (``GETEX``), or to
  what is left of the absolute one when that is shorter. Nothing is kept in this
  process: a logout on any replica (``GETDEL``) ends the session for all at once.
- Redis down, slow or full: every method raises ``SessionStoreUnavailable`` (503),
  never "no session" — a caller with a cookie is not quietly served as the service
  account, nor as anyone else. A record that does not open (tampered, or sealed under a
  key no longer configured) is no session.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from gateway.errors import SessionStoreUnavailable
from gateway.registry.credentials import Credentials
from gateway.sessions import Session
from gateway.shared_state.keys import Sealer, SealError, session_name
from gateway.shared_state.store import KEY_PREFIX, RedisStore, StoreUnavailable

MAX_ID = 128


def _unavailable() -> SessionStoreUnavailable:
    return SessionStoreUnavailable(
        "the session store does not answer: try again in a moment",
        detail={"store": "redis"},
        headers={"Retry-After": "1"},
    )


class SharedSessions:
    def __init__(
        self, store: RedisStore, sealer: Sealer, idle_seconds: float, max_seconds: float
    ) -> None:
        self.store = store
        self.sealer = sealer
        self.idle = idle_seconds
        self.absolute = max_seconds

    @staticmethod
    def _name(session_id: str) -> str:
        return f"{KEY_PREFIX}s:{session_name(session_id)}"

    async def create(self, credentials: Credentials) -> str:
        session_id = secrets.token_urlsafe(32)
        name = self._name(session_id)
        record = {"u": credentials.username, "p": credentials.password, "c": time.time()}
        sealed = self.sealer.seal(json.dumps(record).encode(), name)
        try:
            await self.store.set(name, sealed, min(self.idle, self.absolute))
        except StoreUnavailable:
            raise _unavailable() from None
        return session_id

    def _open(self, name: str, sealed: bytes) -> tuple[Credentials, float] | None:
        try:
            record: Any = json.loads(self.sealer.open(sealed, name))
            return Credentials(str(record["u"]), str(record["p"])), float(record["c"])
        except (SealError, ValueError, KeyError, TypeError):
            return None

    async def get(self, session_id: str | None) -> Session | None:
        if not session_id or len(session_id) > MAX_ID:
            return None
        name = self._name(session_id)
        try:
            sealed = await self.store.getex(name, self.idle)
            if sealed is None:
                return None
            opened = self._open(name, sealed)
            if opened is None:
                return None
            credentials, created = opened
            now = time.time()
            left = created + self.absolute - now
            if left <= 0:
                await self.store.delete(name)
                return None
            if left < self.idle:
                await self.store.expire(name, left)
        except StoreUnavailable:
            raise _unavailable() from None
        return Session(credentials, created, now)

    async def delete(self, session_id: str | None) -> Session | None:
        if not session_id or len(session_id) > MAX_ID:
            return None
        name = self._name(session_id)
        try:
            sealed = await self.store.getdel(name)
        except StoreUnavailable:
            raise _unavailable() from None
        if sealed is None:
            return None
        opened = self._open(name, sealed)
        return None if opened is None else Session(opened[0], opened[1], time.time())

    def active(self) -> int | None:
        return None  # every replica's sessions: Redis knows, not this process
