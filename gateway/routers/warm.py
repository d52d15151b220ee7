"""A page's answer from the warm-answer cache (gateway/services/answers.py), or built,
sent, and kept when it is whole."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

from fastapi import Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from gateway.state import AppState

M = TypeVar("M", bound=BaseModel)


async def answer(
    state: AppState,
    key: Hashable,
    build: Callable[[], Awaitable[M]],
    whole: Callable[[M], bool],
) -> Response:
    body = state.answers.get(key)
    if body is not None:
        return Response(body, media_type="application/json")
    stamp = state.answers.stamp()
    model = await build()
    response = JSONResponse(model.model_dump(mode="json", by_alias=True))
    if whole(model):
        state.answers.put(key, bytes(response.body), stamp)
    return response
