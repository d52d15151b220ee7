"""Annotated dependencies: the app state, the caller, validated path parameters.

They are ``async def`` though none awaits: FastAPI runs a plain ``def`` dependency in
its thread pool, a hop per dependency per request that cost a warm page more than its
cache lookups (bench/bench_load.py). Each is quick and never blocks."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import Depends, Path, Request

from gateway.errors import Unauthorized
from gateway.registry.credentials import ANONYMOUS, Caller, Credentials
from gateway.registry.names import (
    NAME_MAX,
    NAME_PATTERN,
    REFERENCE_MAX,
    REFERENCE_PATTERN,
    SHA256_LENGTH,
    SHA256_PATTERN,
    TAG_MAX,
    TAG_PATTERN,
    anchored,
    check_digest,
    check_name,
    check_reference,
    check_tag,
)
from gateway.sessions import COOKIE_NAME, expired_cookie
from gateway.state import AppState


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.lr
    return state


State = Annotated[AppState, Depends(get_state)]


def basic_credentials(header: str | None) -> Credentials | None:
    """Credentials of an ``Authorization: Basic`` header; None for other schemes and
    for empty ones (``Basic Og==``)."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("malformed Basic credentials") from None
    if decoded == ":":
        # empty credentials, what ``skopeo --no-creds`` answers a challenge with: no
        # one in particular, an anonymous caller
        return None
    username, sep, password = decoded.partition(":")
    if not sep or not username:
        raise Unauthorized("malformed Basic credentials")
    return Credentials(username, password)


async def caller_from(
    state: AppState, cookie: str | None, authorization: str | None, root_path: str
) -> Caller:
    """Who is asking: session cookie, then Basic header, then service account, then
    anonymous (``get_caller``, and the warm lane of routers/warm.py, which must name the
    very same caller)."""
    session = await state.sessions.get(cookie)
    if session is not None:
        return Caller(session.credentials, "session")
    creds = basic_credentials(authorization)
    if creds is None and cookie:
        # A session that ended (logout, expiry, restart) must not quietly turn into
        # the service account: the SPA has to learn that its user is logged out.
        raise Unauthorized(
            "the session has ended: log in again",
            detail={"session": "expired"},
            headers={"Set-Cookie": expired_cookie(root_path)},
        )
    fallback = state.service_account or ANONYMOUS
    return Caller(creds, "basic") if creds is not None else fallback


async def get_caller(request: Request, state: State) -> Caller:
    """Who is asking (``caller_from``), named once per request: the warm lane
    (routers/warm.py) may have named it already."""
    named: Caller | None = request.scope.get("state", {}).get("caller")
    if named is not None:
        return named
    caller = await caller_from(
        state,
        request.cookies.get(COOKIE_NAME),
        request.headers.get("authorization"),
        request.scope.get("root_path", ""),
    )
    request.state.caller = caller
    return caller


CurrentCaller = Annotated[Caller, Depends(get_caller)]


def _schema(pattern: str, min_length: int, max_length: int) -> dict[str, Any]:
    """The grammar a path parameter is checked against, published in the OpenAPI
    document (and not enforced by FastAPI: ``check_*`` answers with the registry's own
    codes, NAME_INVALID and so on, instead of a generic VALIDATION_ERROR)."""
    return {"pattern": anchored(pattern), "minLength": min_length, "maxLength": max_length}


NAME_SCHEMA = _schema(NAME_PATTERN, 1, NAME_MAX)
REFERENCE_SCHEMA = _schema(REFERENCE_PATTERN, 1, REFERENCE_MAX)
DIGEST_SCHEMA = _schema(SHA256_PATTERN, SHA256_LENGTH, SHA256_LENGTH)
TAG_SCHEMA = _schema(TAG_PATTERN, 1, TAG_MAX)


async def _name(
    name: Annotated[
        str,
        Path(
            description="Repository name; may contain '/'. Answers 400 NAME_INVALID when "
            "it does not match the pattern.",
            json_schema_extra=NAME_SCHEMA,
        ),
    ],
) -> str:
    return check_name(name)


async def _reference(
    reference: Annotated[
        str,
        Path(
            description="A tag or a sha256 digest. Answers 400 TAG_INVALID or "
            "DIGEST_INVALID when it does not match the pattern.",
            json_schema_extra=REFERENCE_SCHEMA,
        ),
    ],
) -> str:
    return check_reference(reference)


async def _digest(
    digest: Annotated[
        str,
        Path(
            description="A sha256 digest. Answers 400 DIGEST_INVALID when it does not "
            "match the pattern.",
            json_schema_extra=DIGEST_SCHEMA,
        ),
    ],
) -> str:
    return check_digest(digest)


async def _tag(
    tag: Annotated[
        str,
        Path(
            description="A tag. Answers 400 TAG_INVALID when it does not match the pattern.",
            json_schema_extra=TAG_SCHEMA,
        ),
    ],
) -> str:
    return check_tag(tag)


RepoName = Annotated[str, Depends(_name)]
Reference = Annotated[str, Depends(_reference)]
Digest = Annotated[str, Depends(_digest)]
Tag = Annotated[str, Depends(_tag)]
