"""The SPA's login: a server-side session behind an HttpOnly, SameSite cookie."""

from __future__ import annotations

from fastapi import Request, Response

from gateway.dependencies import State, basic_credentials
from gateway.errors import Unauthorized
from gateway.models.api import LoggedIn, Login, SessionState
from gateway.registry.credentials import Caller, Credentials
from gateway.routers import SESSION_STORE, STATE_CHANGING, UPSTREAM, errors
from gateway.routers.routing import GatewayRouter
from gateway.sessions import COOKIE_NAME, cookie_path

router = GatewayRouter(tags=["session"])


def _secure(request: Request, state: State) -> bool:
    setting = state.settings.cookie_secure
    if setting != "auto":
        return setting == "true"
    public = state.settings.public_url
    if public:
        return public.startswith("https://")
    forwarded = request.headers.get("x-forwarded-proto", "")
    return request.url.scheme == "https" or forwarded.lower() == "https"


@router.post(
    "/api/session",
    response_model=LoggedIn,
    summary="Log in",
    responses=errors(
        {
            400: (
                (
                    "VALIDATION_ERROR",
                    "username or password missing, empty or too long, a username with a "
                    "colon or a control character, an unknown field, or a body that is not "
                    "JSON (not UTF-8, nested too deeply, a number with too many digits, "
                    "truncated)",
                ),
            ),
            401: (
                (
                    "UNAUTHORIZED",
                    "the registry rejected these credentials, or it checks none (an open "
                    "registry needs no login)",
                ),
            ),
            403: (
                (
                    "CSRF_FAILED",
                    "every login must send X-Requested-With: XMLHttpRequest, from the "
                    "gateway's own or an allowed Origin",
                ),
            ),
        },
        UPSTREAM,
        STATE_CHANGING,
        SESSION_STORE,
    ),
)
async def login(body: Login, request: Request, response: Response, state: State) -> LoggedIn:
    """Log in: the registry checks the credentials; the browser gets only a session id
    (an HttpOnly, SameSite cookie), never the credentials or a registry token."""
    caller = Caller(Credentials(body.username, body.password), "session")
    try:
        await state.logins.check(caller)
    except Unauthorized:
        raise Unauthorized("the registry rejected these credentials") from None
    old = await state.sessions.delete(request.cookies.get(COOKIE_NAME))
    if old is not None:
        state.registry.logged_out(Caller(old.credentials, "session"))
    session_id = await state.sessions.create(caller.credentials)  # type: ignore[arg-type]
    response.set_cookie(
        COOKIE_NAME,
        session_id,
        max_age=state.settings.session_max_seconds,
        httponly=True,
        samesite="strict" if not state.settings.cors_origins else "lax",
        secure=_secure(request, state),
        path=cookie_path(request.scope.get("root_path", "")),
    )
    response.headers["Cache-Control"] = "no-store"
    return LoggedIn(username=body.username)


@router.get(
    "/api/session",
    response_model=SessionState,
    summary="Who am I",
    responses=errors(
        {401: (("UNAUTHORIZED", "the Authorization: Basic header is malformed"),)},
        # A Basic header is checked with the registry, which can fail as usual; its
        # rejection is a 200 with authenticated false, not a 401.
        {status: codes for status, codes in UPSTREAM.items() if status != 401},
        SESSION_STORE,
    ),
)
async def who_am_i(request: Request, state: State) -> SessionState:
    """Who the gateway serves this browser as. A rejected Basic header answers 200 with
    ``authenticated: false``."""
    session = await state.sessions.get(request.cookies.get(COOKIE_NAME))
    if session is not None:
        return SessionState(
            authenticated=True, username=session.credentials.username, source="session"
        )
    creds = basic_credentials(request.headers.get("authorization"))
    if creds is not None:
        # Only what the registry accepted counts as authenticated.
        try:
            await state.logins.check(Caller(creds, "basic"))
        except Unauthorized:
            return SessionState(authenticated=False, username=None, source="basic")
        return SessionState(authenticated=True, username=creds.username, source="basic")
    if state.service_account is not None:
        return SessionState(authenticated=False, username=None, source="service")
    return SessionState(authenticated=False, username=None, source="anonymous")


@router.delete(
    "/api/session",
    status_code=204,
    response_class=Response,
    summary="Log out",
    responses=errors(STATE_CHANGING, SESSION_STORE),
)
async def logout(request: Request, state: State) -> Response:
    """Log out: the session is forgotten server-side, with its cached lists and tokens."""
    session = await state.sessions.delete(request.cookies.get(COOKIE_NAME))
    if session is not None:
        state.registry.logged_out(Caller(session.credentials, "session"))
    response = Response(status_code=204)
    path = cookie_path(request.scope.get("root_path", ""))
    response.delete_cookie(COOKIE_NAME, path=path, httponly=True, samesite="strict")
    return response
