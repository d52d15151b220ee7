"""The gateway's own ``User-Agent`` upstream, and how a notification reveals it.

The registry's events carry the ``User-Agent`` of the request that caused them
(``request.useragent``); distribution takes nothing else from the client that the
gateway could set (its ``request.id`` is a fresh UUID of its own, ``request.addr`` is
the connection's or ``X-Forwarded-For``'s address). So the gateway names itself there:

    light-registry/<version>                                    (before it has a store)
    light-registry/<version> (origin=<origin>)                  its own reads and writes
    light-registry/<version> (origin=<origin>; request=<id>)    on behalf of a request

Two rules read it:

- **A gateway's reads are never pulls** (``is_gateway``): browsing, usage walks,
  indexing, ``/v2`` cache fills — whichever gateway made them, whatever the origin.
- **The echo of the gateway's own write is not recorded twice** (``is_echo``): when the
  origin is this store's, the gateway recorded the request itself (``via: gateway``, as
  the real client, with its caller as actor), so the registry's event for it is
  dropped. Another gateway's writes (another origin, or none) are recorded as the
  registry tells them.

The origin is this store's name, not a secret the gateway relies on for safety: a
client that sends this string to the registry directly hides its own writes from the
activity feed (never from the registry's own logs), so keep the origin out of what
clients see — recorded user agents of a gateway are cut to ``light-registry/<version>``.
``request=<id>`` is the gateway's request id, for matching the registry's log lines with
the gateway's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PRODUCT = "light-registry"
_AGENT_RE = re.compile(
    rf"{PRODUCT}/(?P<version>[A-Za-z0-9.+_-]{{1,32}})"
    r"(?: \((?P<comment>[^()]{0,256})\))?",
    re.ASCII,
)
_PART_RE = re.compile(r"(origin|request)=([A-Za-z0-9._:-]{1,128})", re.ASCII)
_TOKEN_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}", re.ASCII)


@dataclass(frozen=True, slots=True)
class GatewayAgent:
    version: str
    origin: str | None = None
    request: str | None = None

    def text(self) -> str:
        return user_agent(self.version, origin=self.origin, request_id=self.request)


def user_agent(version: str, *, origin: str | None = None, request_id: str | None = None) -> str:
    """The ``User-Agent`` the gateway sends upstream (see the module's docstring)."""
    parts = []
    if origin is not None:
        if not _TOKEN_RE.fullmatch(origin):
            raise ValueError("an origin is 1-128 characters of A-Z a-z 0-9 . _ : -")
        parts.append(f"origin={origin}")
    if request_id is not None and _TOKEN_RE.fullmatch(request_id):
        parts.append(f"request={request_id}")
    base = f"{PRODUCT}/{version}"
    return f"{base} ({'; '.join(parts)})" if parts else base


def parse(value: object) -> GatewayAgent | None:
    """The gateway agent a ``User-Agent`` names, or None when it is a client's."""
    if not isinstance(value, str):
        return None
    match = _AGENT_RE.fullmatch(value.strip())
    if match is None:
        return None
    found = dict(_PART_RE.findall(match["comment"] or ""))
    return GatewayAgent(match["version"], found.get("origin"), found.get("request"))


def is_gateway(value: object) -> bool:
    """Whether a request came from a Light Registry gateway (any origin)."""
    return parse(value) is not None


def is_echo(value: object, origin: str | None) -> bool:
    """Whether a request came from the gateway that keeps the store named ``origin``."""
    agent = parse(value)
    return agent is not None and origin is not None and agent.origin == origin


def shown(value: str | None) -> str | None:
    """A user agent as recorded: a gateway's without its origin and request id."""
    agent = parse(value)
    if agent is None:
        return value
    return f"{PRODUCT}/{agent.version}"
