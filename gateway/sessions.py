"""Login sessions: the model, and the in-process store (one replica).

Random ids, idle and absolute expiry, credentials in memory. The cookie holds only a
random id (256 bits); the store is keyed by its sha256 so even a memory dump of the index
does not give usable cookie values. Credentials never leave the process: not in the
cookie, not in a log line, not in an error.

``SessionStore`` keeps them in this process. With ``LR_REDIS_URL``,
``gateway.shared_state.sessions.SharedSessions`` keeps them in Redis instead (every
replica sees a login and a logout at once), with the same methods (``Sessions``); it
raises ``SessionStoreUnavailable`` (503) when Redis does not answer, never "no session".
Below the services: the middleware, the caller dependency and the Redis store all use it.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Protocol

from gateway.registry.credentials import Credentials

COOKIE_NAME = "lr_session"


def cookie_path(root_path: str) -> str:
    """The session cookie's path: everything below the gateway's mount point, so it
    reaches /api and /v2 alike (behind ``--root-path /ui``: ``/ui/``)."""
    return root_path.rstrip("/") + "/"


def expired_cookie(root_path: str) -> str:
    """The ``Set-Cookie`` that makes the browser drop its session cookie."""
    path = cookie_path(root_path)
    return f'{COOKIE_NAME}=""; Max-Age=0; Path={path}; HttpOnly; SameSite=strict'


@dataclass
class Session:
    credentials: Credentials
    created: float
    last_seen: float


class Sessions(Protocol):
    """What the routers and the caller dependency use, whichever store holds sessions."""

    async def create(self, credentials: Credentials) -> str: ...

    async def get(self, session_id: str | None) -> Session | None: ...

    async def delete(self, session_id: str | None) -> Session | None: ...

    def active(self) -> int | None: ...


def _index(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore:
    def __init__(self, idle_seconds: float, max_seconds: float, max_count: int = 10000) -> None:
        self.idle = idle_seconds
        self.absolute = max_seconds
        self.max_count = max_count
        self._sessions: dict[str, Session] = {}

    async def create(self, credentials: Credentials) -> str:
        self._purge()
        while len(self._sessions) >= self.max_count:
            oldest = min(self._sessions, key=lambda k: self._sessions[k].last_seen)
            del self._sessions[oldest]
        session_id = secrets.token_urlsafe(32)
        now = time.monotonic()
        self._sessions[_index(session_id)] = Session(credentials, now, now)
        return session_id

    async def get(self, session_id: str | None) -> Session | None:
        if not session_id or len(session_id) > 128:
            return None
        key = _index(session_id)
        session = self._sessions.get(key)
        if session is None:
            return None
        now = time.monotonic()
        if now - session.last_seen > self.idle or now - session.created > self.absolute:
            del self._sessions[key]
            return None
        session.last_seen = now
        return session

    async def delete(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        return self._sessions.pop(_index(session_id), None)

    def _purge(self) -> None:
        now = time.monotonic()
        for key in [
            k
            for k, s in self._sessions.items()
            if now - s.last_seen > self.idle or now - s.created > self.absolute
        ]:
            del self._sessions[key]

    def active(self) -> int | None:
        """Sessions not expired (expired ones are dropped on the way)."""
        self._purge()
        return len(self._sessions)

    def __len__(self) -> int:
        return len(self._sessions)
