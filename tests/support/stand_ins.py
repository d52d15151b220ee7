"""Stand-ins for registries that misbehave in ways a real one cannot be made to."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@contextmanager
def hanging_registry() -> Iterator[str]:
    """A listener that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


# -- a registry that misbehaves on demand --------------------------------------------------

FAULTS = (
    "stall_after_accept",  # accepts, reads nothing, never answers
    "stall_after_headers",  # sends the status line and headers, then nothing
    "trickle_headers",  # the headers, one byte per interval
    "trickle_body",  # headers at once, then the body one byte per interval
    "reset",  # reads the request, then resets the connection (SO_LINGER 0)
    "reset_mid_body",  # half the body, then a reset
    "truncated_json",  # half the JSON, with a Content-Length that matches it
    "truncated_json_short_read",  # half the JSON, Content-Length of the whole, then closed
    "truncated_json_until_close",  # half the JSON, no Content-Length, Connection: close
    "content_length_short",  # the whole body, a Content-Length of half (keep-alive)
    "content_length_long",  # the whole body, a Content-Length beyond it, kept open
    "smuggled_answer",  # the answer, then a second one nobody asked for (keep-alive)
    "garbage",  # bytes that are not HTTP at all
    "digest_mismatch",  # manifests and configs whose bytes do not match their digest
    "huge_declared",  # a Content-Length of 1 GiB, bytes streamed until the peer leaves
    "huge_chunked",  # chunked, no length, bytes streamed until the peer leaves
)

_REASONS = {200: "OK", 404: "Not Found"}
_HUGE = 1024 * 1024 * 1024
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Answer:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    head_only: bool = False  # a HEAD: headers as for GET, no body

    def head(self, *, content_length: int | None = None, extra: str = "") -> bytes:
        lines = [f"HTTP/1.1 {self.status} {_REASONS.get(self.status, 'X')}"]
        lines += [f"{k}: {v}" for k, v in self.headers]
        if content_length is not None:
            lines.append(f"Content-Length: {content_length}")
        if extra:
            lines.append(extra)
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def whole(self) -> bytes:
        return self.head(content_length=len(self.body)) + (b"" if self.head_only else self.body)


class Documents:
    """What the good registry holds: ``repositories`` maps a name to its manifests by
    reference (a tag or a digest), each served with the media type its body names (the
    tags of a repository are its references that are not digests); ``blobs`` maps
    digests to blob bytes, shared by every repository."""

    def __init__(self, repositories: dict[str, dict[str, bytes]], blobs: dict[str, bytes]):
        self.repositories = repositories
        self.blobs = blobs

    def answer(self, method: str, path: str) -> Answer:
        head_only = method == "HEAD"
        api = (("Docker-Distribution-Api-Version", "registry/2.0"),)
        if path == "/v2/":
            return Answer(200, (*api, ("Content-Type", "application/json")), b"{}", head_only)
        bare = path.split("?")[0]
        if bare == "/v2/_catalog":
            return _json(200, {"repositories": sorted(self.repositories)}, head_only)
        match = re.fullmatch(r"/v2/(.+)/(tags/list|manifests/[^/]+|blobs/[^/]+)", bare)
        if match is None:
            return _error(404, "NOT_FOUND", head_only)
        name, what = match.groups()
        refs = self.repositories.get(name)
        if refs is None:
            return _error(404, "NAME_UNKNOWN", head_only)
        if what == "tags/list":
            tags = sorted(r for r in refs if not r.startswith("sha256:"))
            return _json(200, {"name": name, "tags": tags}, head_only)
        kind, ref = what.split("/", 1)
        if kind == "manifests":
            body = refs.get(ref)
            if body is None:
                return _error(404, "MANIFEST_UNKNOWN", head_only)
            media_type = json.loads(body)["mediaType"]
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            headers = (*api, ("Content-Type", media_type), ("Docker-Content-Digest", digest))
            return Answer(200, headers, body, head_only)
        blob = self.blobs.get(ref)
        if blob is None:
            return _error(404, "BLOB_UNKNOWN", head_only)
        headers = (("Content-Type", "application/octet-stream"), ("Docker-Content-Digest", ref))
        return Answer(200, headers, blob, head_only)


def _json(status: int, doc: object, head_only: bool) -> Answer:
    body = json.dumps(doc, separators=(",", ":")).encode()
    return Answer(status, (("Content-Type", "application/json"),), body, head_only)


def _error(status: int, code: str, head_only: bool) -> Answer:
    doc = {"errors": [{"code": code, "message": code.lower(), "detail": None}]}
    return _json(status, doc, head_only)


class FaultyRegistry:
    """A registry on 127.0.0.1 (plain sockets, a thread per connection) that serves
    ``documents`` well, or misbehaves in one of the ``FAULTS`` on demand.

    ``fault(name, only=regex)`` switches (``only``: the paths concerned, e.g.
    ``r"/manifests/|/blobs/"``; every other path is answered well); ``good()`` switches
    back. A switch ends every stall and trickle under way (their connections are
    closed), so nothing outlives the fault. ``requests`` records (fault or "good",
    method, path) of every request read. Keep-alive is honoured as HTTP/1.1 says.
    """

    def __init__(self, documents: Documents, *, interval: float = 0.5) -> None:
        self.documents = documents
        self.interval = interval
        self.requests: list[tuple[str, str, str]] = []
        self._mode = "good"
        self._only: re.Pattern[str] | None = None
        self._generation = 0
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(64)
        self._server.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._acceptor = threading.Thread(target=self._accept, name="faulty-registry", daemon=True)

    # -- switching -------------------------------------------------------------------

    def fault(self, name: str, only: str | None = None) -> None:
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}")
        with self._lock:
            self._mode, self._only = name, re.compile(only) if only else None
            self._generation += 1

    def good(self) -> None:
        with self._lock:
            self._mode, self._only = "good", None
            self._generation += 1

    def requests_in(self, mode: str) -> list[tuple[str, str]]:
        return [(method, path) for m, method, path in list(self.requests) if m == mode]

    # -- life ------------------------------------------------------------------------

    def __enter__(self) -> FaultyRegistry:
        self._acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._acceptor.join(5)
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.close()
        for thread in list(self._threads):
            thread.join(5)
        self._server.close()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self._conns.add(conn)
            thread = threading.Thread(target=self._connection, args=(conn,), daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()

    def _current(self, path: str) -> tuple[str, int]:
        with self._lock:
            applies = self._only is None or self._only.search(path) is not None
            return (self._mode if applies else "good"), self._generation

    def _unchanged(self, generation: int) -> bool:
        return not self._closing.is_set() and self._generation == generation

    def _hold(self, generation: int, seconds: float = 60.0) -> None:
        """Wait until the stand-in switches or closes (at most ``seconds``)."""
        end = time.monotonic() + seconds
        while self._unchanged(generation) and time.monotonic() < end:
            time.sleep(0.02)

    def _connection(self, conn: socket.socket) -> None:
        try:
            mode, generation = self._current("")
            if mode == "stall_after_accept" and self._only is None:
                self._hold(generation)  # not even the request is read
                return
            buffered = b""
            conn.settimeout(0.1)
            while not self._closing.is_set():
                while b"\r\n\r\n" not in buffered:
                    try:
                        data = conn.recv(65536)
                    except TimeoutError:
                        if self._closing.is_set():
                            return
                        continue
                    if not data:
                        return
                    buffered += data
                head, buffered = buffered.split(b"\r\n\r\n", 1)
                method, path = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")[:2]
                mode, generation = self._current(path)
                self.requests.append((mode, method, path))
                answer = self.documents.answer(method, path)
                if not self._respond(conn, mode, generation, answer, path):
                    return
        except OSError:
            return
        finally:
            with self._lock:
                self._conns.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def _write(self, conn: socket.socket, data: bytes, generation: int | None = None) -> bool:
        """Send ``data`` unless the stand-in closes (or, given ``generation``, switches)
        first. The socket's short timeout keeps a peer that stops reading from holding
        the thread; a send that timed out sent nothing, so it is simply tried again."""
        view = memoryview(data)
        while view:
            if self._closing.is_set() or (
                generation is not None and not self._unchanged(generation)
            ):
                return False
            try:
                sent = conn.send(view)
            except TimeoutError:
                continue  # nothing was sent: try again
            view = view[sent:]
        return True

    def _trickle(self, conn: socket.socket, data: bytes, generation: int) -> bool:
        for i in range(len(data)):
            if not self._write(conn, data[i : i + 1], generation):
                return False
            time.sleep(self.interval)
        return True

    def _stream(self, conn: socket.socket, generation: int, chunked: bool) -> None:
        """Bytes until the peer goes away, the stand-in switches, or 1 GiB."""
        sent = 0
        chunk = b"x" * _CHUNK
        framed = b"%x\r\n" % len(chunk) + chunk + b"\r\n" if chunked else chunk
        while sent < _HUGE and self._write(conn, framed, generation):
            sent += len(chunk)

    def _respond(
        self, conn: socket.socket, mode: str, generation: int, answer: Answer, path: str
    ) -> bool:
        """Answer one request as ``mode`` says; False closes the connection."""
        body = b"" if answer.head_only else answer.body
        half = body[: len(body) // 2]
        head = answer.head(content_length=len(body))
        if mode == "good":
            return self._write(conn, answer.whole())
        if mode == "stall_after_accept":
            self._hold(generation)
        elif mode == "stall_after_headers":
            if self._write(conn, head, generation):
                self._hold(generation)
        elif mode == "trickle_headers":
            padded = answer.head(extra="X-Pad: " + "a" * 400)[:-2]  # ends without its CRLF
            self._trickle(conn, padded, generation)
        elif mode == "trickle_body":
            if self._write(conn, head, generation):
                self._trickle(conn, body, generation)
        elif mode in ("reset", "reset_mid_body"):
            if mode == "reset_mid_body":
                self._write(conn, head + half, generation)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif mode == "truncated_json":
            return self._write(conn, answer.head(content_length=len(half)) + half)
        elif mode == "truncated_json_short_read":
            self._write(conn, head + half)
        elif mode == "truncated_json_until_close":
            self._write(conn, answer.head(extra="Connection: close") + half)
        elif mode == "content_length_short":
            return self._write(conn, answer.head(content_length=len(half)) + body)
        elif mode == "content_length_long":
            if self._write(conn, answer.head(content_length=len(body) + 100) + body):
                self._hold(generation)
        elif mode == "smuggled_answer":
            # Valid as a catalog and as a tag list: whichever request comes next on this
            # connection reads it as its answer, unless the client drops the connection.
            extra = _json(200, {"repositories": ["smuggled"], "tags": ["smuggled"]}, False)
            return self._write(conn, answer.whole() + extra.whole())
        elif mode == "garbage":
            self._write(conn, b"SSH-2.0-OpenSSH_9.6\r\n\x00\xff\x16\x03\x01 not http\r\n\r\n")
        elif mode == "digest_mismatch":
            if answer.status != 200 or not re.search(r"/(manifests|blobs)/", path) or not body:
                return self._write(conn, answer.whole())
            # One byte changed, under the headers (Docker-Content-Digest too) of the real.
            tampered = body[:-2] + b" " + body[-1:]
            return self._write(conn, answer.head(content_length=len(tampered)) + tampered)
        elif mode == "huge_declared":
            if self._write(conn, answer.head(content_length=_HUGE), generation):
                self._stream(conn, generation, chunked=False)
        elif mode == "huge_chunked":
            if self._write(conn, answer.head(extra="Transfer-Encoding: chunked"), generation):
                self._stream(conn, generation, chunked=True)
        else:
            raise AssertionError(mode)
        return False


@contextmanager
def faulty_registry(documents: Documents, *, interval: float = 0.5) -> Iterator[FaultyRegistry]:
    """``with faulty_registry(docs) as registry:`` — a ``FaultyRegistry``, good at first."""
    with FaultyRegistry(documents, interval=interval) as registry:
        yield registry
