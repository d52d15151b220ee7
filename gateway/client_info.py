"""Who is on the other end of the request being handled: its address and user agent.

Held in a context variable set by ``RequestLogMiddleware`` (as the request id is), so a
write made deep inside the view can say which client asked for it without every layer
handing it on: the activity log records a write made through the gateway (its API,
retention, bulk delete, ``/v2``) as the real client, not as the gateway. Outside a
request it is None.

The address is the connection's as the server reports it (behind a proxy, run the
server with its proxy-headers option so it is the client's). Both are cut to a bound:
they are recorded, and a client chooses its user agent.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

MAX_USER_AGENT = 256
MAX_ADDR = 64


@dataclass(frozen=True, slots=True)
class ClientInfo:
    addr: str | None
    user_agent: str | None


current_client: ContextVar[ClientInfo | None] = ContextVar("lr_client", default=None)


def client_info(addr: object, user_agent: bytes | str | None) -> ClientInfo:
    """What is kept of a client: its address and user agent, bounded, printable."""
    text = user_agent.decode("latin-1") if isinstance(user_agent, bytes) else user_agent
    agent = None if not text else "".join(c if c.isprintable() else "?" for c in text)
    where = addr if isinstance(addr, str) and addr else None
    return ClientInfo(
        None if where is None else where[:MAX_ADDR],
        None if agent is None else agent[:MAX_USER_AGENT],
    )
