"""What every API router shares: a repository-name path convertor that lets any name
reach the grammar check, and ``HEAD`` wherever there is a ``GET``.

Routes spell a repository name ``{name:repository}``, never ``{name:path}``: Starlette's
path convertor is ``.*``, and ``.`` stops at a newline, so
``/api/repositories/demo%0d%0aX/tags`` matched no route (a 404 "no such route") instead
of reaching ``check_name`` (400 ``NAME_INVALID``). Tags, digests and references keep
Starlette's ``[^/]+``, which already takes any character but ``/``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.convertors import Convertor, register_url_convertor

from gateway.errors import NotFound


class RepositoryNameConvertor(Convertor[str]):
    """Starlette's ``path`` convertor, newlines included; ``gateway.registry.names``
    decides what is a name."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("repository", RepositoryNameConvertor())


async def whole_path(request: Request) -> None:
    """Refuse a path that only matched because of its final newline.

    A route's pattern ends in ``$``, which also matches before a final newline, so
    ``…/config%0a`` was answered as ``…/config``. A newline inside a name, tag or digest
    is the grammar check's to refuse (400); one after the route's literal end is no
    route at all.
    """
    path: str = request.scope.get("path", "")
    if path.endswith("\n") and not any(
        str(value).endswith("\n") for value in request.path_params.values()
    ):
        raise NotFound("no such route")


class GatewayRouter(APIRouter):
    """An ``APIRouter`` that registers a ``HEAD`` twin of each ``GET``
    route: the same endpoint and dependencies, answered without a body (Starlette drops
    it), left out of the OpenAPI document so operationIds stay one per operation.

    ``head=False`` for a router whose GETs need a HEAD of their own (the raw manifest and
    blob downloads, where HEAD must not start a download).
    """

    def __init__(self, *, head: bool = True, **kwargs: Any) -> None:
        kwargs["dependencies"] = [Depends(whole_path), *kwargs.get("dependencies", ())]
        super().__init__(**kwargs)
        self.head_for_get = head

    def add_api_route(
        self, path: str, endpoint: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> None:
        super().add_api_route(path, endpoint, *args, **kwargs)
        methods = {m.upper() for m in kwargs.get("methods") or ()}
        if self.head_for_get and "GET" in methods:
            name = kwargs.get("name") or endpoint.__name__
            twin = {
                **kwargs,
                "methods": ["HEAD"],
                "include_in_schema": False,
                "operation_id": None,
                "name": f"{name}_head",
            }
            super().add_api_route(path, endpoint, *args, **twin)


def not_modified(request: Request, digest: str) -> bool:
    """Whether ``If-None-Match`` names this digest (its ETag) or ``*``."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    tags = {t.strip().removeprefix("W/").strip('"') for t in header.split(",")}
    return digest in tags or "*" in tags
