"""A small token server for distribution's ``auth.token`` mode.

It answers ``GET /token?service=…&scope=…&account=…`` (Basic credentials optional) with
an RS256 JWT the registry accepts: header ``kid`` names the signing key, whose
self-signed certificate is written to ``certbundle`` for the registry's
``rootcertbundle``. What each user may do is decided by ``grant``.

The key id's form depends on the registry that reads the tokens: distribution 3.x
takes the RFC 7638 JWK thumbprint (and rejects anything else: every token request
then ends in 401); 2.8 takes libtrust's. ``start_registry`` tells the server which
one (``serve_registry``); one server serves registries of one form.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from harness.certificates import self_signed

# (user or None for anonymous, resource type, resource name, requested actions) -> granted
Grant = Callable[[str | None, str, str, list[str]], list[str]]


def libtrust_key_id(public_key: rsa.RSAPublicKey) -> str:
    """The key id docker/libtrust derives: base32(sha256(DER SPKI)[:30]), 12 groups of 4."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode("ascii").rstrip("=")
    return ":".join(b32[i : i + 4] for i in range(0, len(b32), 4))


def jwk_thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638: base64url(sha256 of the JWK's required members in lexical order, no
    spaces)), without padding; for RSA those are ``e``, ``kty`` and ``n``."""
    numbers = public_key.public_numbers()

    def b64(value: int) -> str:
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    members = json.dumps(
        {"e": b64(numbers.e), "kty": "RSA", "n": b64(numbers.n)},
        separators=(",", ":"),
        sort_keys=True,
    )
    digest = hashlib.sha256(members.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


KeyIdForm = Literal["jwk", "libtrust"]


def parse_scope(scope: str) -> tuple[str, str, list[str]] | None:
    """``type:name:actions`` -> (type, name, actions); names may contain ``/`` or ``:``."""
    first = scope.find(":")
    last = scope.rfind(":")
    if first < 0 or last == first:
        return None
    rtype, name, actions = scope[:first], scope[first + 1 : last], scope[last + 1 :]
    if not rtype or not name:
        return None
    return rtype, name, [a for a in actions.split(",") if a]


def allow_all(user: str | None, rtype: str, name: str, actions: list[str]) -> list[str]:
    """A grant giving everyone everything they ask for."""
    return list(actions)


class TokenServer:
    def __init__(
        self,
        root: Path,
        users: dict[str, str],
        grant: Grant,
        service: str = "light-registry-test",
        issuer: str = "lr-test-issuer",
        expires_in: int = 300,
        host: str = "127.0.0.1",
        key_id_form: KeyIdForm | None = None,
    ) -> None:
        self.root = root
        self.users = dict(users)
        self.grant = grant
        self.service = service
        self.issuer = issuer
        self.expires_in = expires_in
        self.host = host
        self.certbundle = root / "token-certbundle.pem"
        self.requests: list[dict[str, Any]] = []
        self.issued: list[str] = []  # every token signed (tests look for them elsewhere)
        self.realm = ""
        self.port = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._key: rsa.RSAPrivateKey | None = None
        self.key_id_form = key_id_form  # None: decided by the first registry served
        self.kid = ""

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> TokenServer:
        self.root.mkdir(parents=True, exist_ok=True)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._set_kid()
        self.certbundle.write_bytes(
            self_signed(
                self._key,
                self.issuer,
                valid=dt.timedelta(days=30),
                since=dt.timedelta(days=1),
                extensions=((x509.BasicConstraints(ca=True, path_length=None), True),),
            )
        )
        server = ThreadingHTTPServer((self.host, 0), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self.port = int(server.server_address[1])
        self.realm = f"http://{self.host}:{self.port}/token"
        self._thread = threading.Thread(
            target=server.serve_forever, name="token-server", daemon=True
        )
        self._thread.start()
        return self

    def serve_registry(self, version: str) -> None:
        """Sign with the key id form that registry ``version`` reads."""
        form: KeyIdForm = "libtrust" if version.startswith("2.") else "jwk"
        if self.key_id_form not in (None, form):
            raise ValueError(
                f"this token server signs for {self.key_id_form} key ids; "
                f"distribution {version} needs {form}: start another token server"
            )
        self.key_id_form = form
        self._set_kid()

    def _set_kid(self) -> None:
        if self._key is not None:
            public = self._key.public_key()
            form = self.key_id_form or "jwk"
            self.kid = libtrust_key_id(public) if form == "libtrust" else jwk_thumbprint(public)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> TokenServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- tokens ------------------------------------------------------------------

    def issue(self, user: str | None, scopes: list[str]) -> tuple[str, list[dict[str, Any]]]:
        """Sign a token for ``user`` holding what ``grant`` allows of ``scopes``."""
        assert self._key is not None, "start() the token server first"
        access: list[dict[str, Any]] = []
        for scope in scopes:
            parsed = parse_scope(scope)
            if parsed is None:
                continue
            rtype, name, actions = parsed
            granted = [a for a in self.grant(user, rtype, name, actions) if a in actions]
            if granted:
                access.append({"type": rtype, "name": name, "actions": granted})
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": user or "",
            "aud": self.service,
            "exp": now + self.expires_in,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(12),
            "access": access,
        }
        token = jwt.encode(
            claims, self._key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"}
        )
        with self._lock:
            self.issued.append(token)
        return token, access

    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(entry)


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = raw.partition(":")
    return (user, password) if sep else None


def _first(values: list[str] | None) -> str | None:
    return values[0] if values else None


def _make_handler(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go in separate writes

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="token"')
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            url = urlsplit(self.path)
            if url.path != "/token":
                self._send(404, {"errors": [{"code": "NOT_FOUND", "message": url.path}]})
                return
            query = parse_qs(url.query, keep_blank_values=True)
            scopes = [s for value in query.get("scope", []) for s in value.split()]
            header = self.headers.get("Authorization")
            entry: dict[str, Any] = {
                "user": None,
                "scopes": scopes,
                "authorization_present": header is not None,
                "path": self.path,
                "service": _first(query.get("service")),
                "account": _first(query.get("account")),
                "status": 200,
            }
            user: str | None = None
            if header is not None:
                creds = _basic_credentials(header)
                known = creds is not None and server.users.get(creds[0]) == creds[1]
                if creds is None or not known:
                    entry["user"] = creds[0] if creds else None
                    entry["status"] = 401
                    server._record(entry)
                    self._send(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad"}]})
                    return
                user = creds[0]
            entry["user"] = user
            service = entry["service"]
            if service is not None and service != server.service:
                entry["status"] = 400
                server._record(entry)
                self._send(400, {"errors": [{"code": "DENIED", "message": "unknown service"}]})
                return
            token, access = server.issue(user, scopes)
            entry["access"] = access
            server._record(entry)
            issued = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            self._send(
                200,
                {
                    "token": token,
                    "access_token": token,
                    "expires_in": server.expires_in,
                    "issued_at": issued,
                },
            )

    return Handler
