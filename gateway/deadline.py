"""One deadline per gateway request (``LR_REQUEST_TIMEOUT``).

Upstream timeouts bound each registry call, but a page makes many calls, and calls
queue for the concurrency slots: waits would add up (a stalled tag list times 50 rows,
or rows answered in waves behind the slots). The deadline is the one bound of the whole
request: ``DeadlineMiddleware`` (gateway.middleware.deadline) sets it when an /api request
arrives, and every upstream call takes its budget from what is left (``remaining``):
the wait for a slot, the exchange and the read of the body, a token fetch inside the
auth flow, and the wait for a request in flight that another caller started
(single-flight). A call that runs out
raises ``UpstreamTimeout`` (504): a page whose rows fail that way answers with the rows
it has, each failed row carrying its error; a request whose main answer failed is a 504.

A safety net stands behind this: a request that has not started its answer half a
second after its deadline (something waited on that no upstream call bounds) is
cancelled and answered 504 with the envelope. Once the answer has started (a blob being
streamed) the deadline no longer applies: the per-read timeouts do.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Iterator
from contextvars import ContextVar
from typing import TypeVar

from gateway.errors import DeadlinePassed, UpstreamTimeout

T = TypeVar("T")

# The loop time by which the current request must be answered (None: no deadline).
current_deadline: ContextVar[float | None] = ContextVar("lr_request_deadline", default=None)

GRACE = 0.5  # seconds after the deadline before the safety net answers 504 itself


def remaining(limit: float) -> float:
    """Seconds left for the current request, at most ``limit`` (the per-call bound);
    ``limit`` itself outside a request. Zero or less once the deadline has passed."""
    deadline = current_deadline.get()
    if deadline is None:
        return limit
    return min(limit, deadline - asyncio.get_running_loop().time())


def is_binding(limit: float) -> bool:
    """Whether the request's deadline, not ``limit``, is what bounds a call now."""
    deadline = current_deadline.get()
    return deadline is not None and deadline - asyncio.get_running_loop().time() < limit


def passed() -> UpstreamTimeout:
    return DeadlinePassed("the registry did not answer within the request deadline")


def has_time_left() -> bool:
    """Whether the current request's deadline is still ahead (True outside a request)."""
    deadline = current_deadline.get()
    return deadline is None or deadline > asyncio.get_running_loop().time()


async def within_deadline(awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` for at most what is left of the request's deadline."""
    deadline = current_deadline.get()
    if deadline is None:
        return await awaitable
    try:
        async with asyncio.timeout_at(deadline):
            return await awaitable
    except TimeoutError:
        raise passed() from None


@contextlib.contextmanager
def request_deadline(seconds: float) -> Iterator[float]:
    """Set the deadline ``seconds`` from now for the code run inside (tests, scripts)."""
    deadline = asyncio.get_running_loop().time() + seconds
    token = current_deadline.set(deadline)
    try:
        yield deadline
    finally:
        current_deadline.reset(token)
