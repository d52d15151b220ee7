"""Who is asking: a caller and its credentials, with a key that never contains a secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

Source = Literal["session", "basic", "service", "anonymous"]

# A per-process salt: caller keys are stable within a process but useless outside it.
_KEY_SALT = hashlib.sha256(__file__.encode() + str(id(object())).encode()).digest()


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)

    def basic_header(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    @cached_property  # asked for every cache lookup of every row: computed once
    def key(self) -> str:
        """Identifies these exact credentials (username *and* password) without revealing them."""
        mac = hmac.new(_KEY_SALT, self.username.encode() + b"\0" + self.password.encode(), "sha256")
        return mac.hexdigest()[:32]


@dataclass(frozen=True)
class Caller:
    """The identity a request is served as. ``key`` partitions every per-user cache."""

    credentials: Credentials | None
    source: Source

    @cached_property
    def key(self) -> str:
        return "anonymous" if self.credentials is None else "u:" + self.credentials.key

    @property
    def username(self) -> str | None:
        return None if self.credentials is None else self.credentials.username


ANONYMOUS = Caller(None, "anonymous")
