"""uvicorn's own answers, in the envelope.

A request uvicorn cannot parse (a malformed request line or header, a URL over about
64 KiB, ``Content-Length: -1``, a request smuggling both ``Content-Length`` and
``Transfer-Encoding``) never reaches the app: uvicorn answers it itself, with a plain-text
400. These protocol classes answer the same 400 as the error envelope, with a request
id, so an SPA's error handling holds for every answer. ``protocol_class()`` picks the
one for the parser uvicorn would use (httptools when installed, else h11).

They also let a request body (a blob pushed through /v2) fill 1 MiB before uvicorn
pauses reading it, instead of 64 KiB: fewer pauses and system calls per byte pushed
(bench/bench_v2.py), at most about 1 MiB more held per uploading connection.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from gateway.error_answer import render
from gateway.errors import HttpInvalid
from gateway.request_id import accept_or_make

MESSAGE = "the request could not be parsed as HTTP/1.1"
BODY_BUFFER = 1024 * 1024  # uvicorn's HIGH_WATER_LIMIT: 64 KiB


def _answer() -> tuple[bytes, list[tuple[bytes, bytes]]]:
    request_id = accept_or_make(None)
    body = render(HttpInvalid(MESSAGE, detail={"request_id": request_id})).body
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
        (b"x-request-id", request_id.encode()),
        (b"connection", b"close"),
    ]
    return body, headers


class EnvelopeH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        body, headers = _answer()
        event = h11.Response(status_code=400, headers=headers, reason=b"Bad Request")
        for part in (event, h11.Data(data=body), h11.EndOfMessage()):
            output = self.conn.send(part)
            if output:
                self.transport.write(output)
        self.transport.close()


def _larger_body_buffer(module: object) -> None:
    """uvicorn reads the module's ``HIGH_WATER_LIMIT`` global when a body arrives."""
    if isinstance(getattr(module, "HIGH_WATER_LIMIT", None), int):
        module.HIGH_WATER_LIMIT = BODY_BUFFER  # type: ignore[attr-defined]


def protocol_class() -> type[asyncio.Protocol]:
    """The protocol class for ``uvicorn.run(http=…)`` (the body buffer set for it)."""
    try:
        from uvicorn.protocols.http import httptools_impl
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools is not installed: uvicorn would use h11
        from uvicorn.protocols.http import h11_impl

        _larger_body_buffer(h11_impl)
        return EnvelopeH11Protocol
    _larger_body_buffer(httptools_impl)

    class EnvelopeHttpToolsProtocol(HttpToolsProtocol):
        def send_400_response(self, msg: str) -> None:
            body, headers = _answer()
            content = [b"HTTP/1.1 400 Bad Request\r\n"]
            for name, value in [*self.server_state.default_headers, *headers]:
                content.extend([name, b": ", value, b"\r\n"])
            content.extend([b"\r\n", body])
            self.transport.write(b"".join(content))
            self.transport.close()

    return EnvelopeHttpToolsProtocol
