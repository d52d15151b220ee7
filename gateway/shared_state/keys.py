"""The secret key, sealed values and hashed key names.

``LR_SECRET_KEY`` is 32 random bytes written as 64 hex characters or as base64 /
base64url (padded or not); anything else is refused at start-up. ``LR_SECRET_KEY_PREVIOUS``
(same form) still opens what was sealed before a rotation; new values are sealed with
the current key only.

- ``Sealer.seal``/``open``: AES-256-GCM, a fresh 96-bit nonce per value, the value's
  Redis key name as associated data (a sealed value moved under another key does not
  open). The stored form is ``version byte | key id (4 bytes) | nonce | ciphertext``.
- ``Sealer.name``: an HMAC-SHA256 of a key name's secret parts under a key derived from
  the secret key, for names built from a caller's credentials or a token scope: without
  the secret key a name tells nothing, not even which of a dictionary's passwords it
  hides. Session ids are 256 random bits: their names are a plain SHA-256, the same
  under every secret key, so a rotation does not end the sessions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re

# cryptography is imported when a Sealer is made (LR_REDIS_URL set), not with this module.

KEY_BYTES = 32
_VERSION = b"\x01"
_NONCE_BYTES = 12
_HEX_RE = re.compile(r"[0-9A-Fa-f]{64}")
_B64_RE = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")


class SealError(Exception):
    """A sealed value that no configured key opens (tampered, or a key retired)."""


def parse_secret_key(value: str) -> bytes:
    """The 32 bytes ``value`` writes, or ValueError with a message that never echoes it."""
    text = value.strip()
    if _HEX_RE.fullmatch(text):
        return bytes.fromhex(text)
    raw: bytes | None = None
    if _B64_RE.fullmatch(text):
        standard = text.replace("-", "+").replace("_", "/").rstrip("=")
        try:
            raw = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) != KEY_BYTES:
        got = "" if raw is None else f" (it decodes to {len(raw)} bytes)"
        raise ValueError(
            "must be 32 random bytes written as 64 hex characters or as base64/base64url"
            f"{got}; make one with: python3 -c 'import secrets; print(secrets.token_hex(32))'"
        )
    return raw


def _derive(key: bytes, purpose: bytes) -> bytes:
    return hmac.new(key, b"light-registry " + purpose, hashlib.sha256).digest()


def _key_id(key: bytes) -> bytes:
    return _derive(key, b"key id")[:4]


class Sealer:
    """Seals and opens values under the current key (and a previous one), names keys."""

    def __init__(self, current: bytes, previous: bytes | None = None) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._current = (_key_id(current), AESGCM(_derive(current, b"aes-gcm")))
        self._keys = dict([self._current])
        if previous is not None:
            self._keys.setdefault(_key_id(previous), AESGCM(_derive(previous, b"aes-gcm")))
        self._naming = _derive(current, b"key names")

    def seal(self, plaintext: bytes, name: str) -> bytes:
        key_id, aead = self._current
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + key_id + nonce + aead.encrypt(nonce, plaintext, name.encode())

    def open(self, sealed: bytes, name: str) -> bytes:
        if len(sealed) < 1 + 4 + _NONCE_BYTES + 16 or sealed[:1] != _VERSION:
            raise SealError("not a sealed value")
        aead = self._keys.get(sealed[1:5])
        if aead is None:
            raise SealError("sealed under a key that is not configured")
        nonce = sealed[5 : 5 + _NONCE_BYTES]
        try:
            return aead.decrypt(nonce, sealed[5 + _NONCE_BYTES :], name.encode())
        except _invalid_tag():
            raise SealError("the sealed value does not open") from None

    def name(self, *parts: str) -> str:
        """A key name's secret parts, hashed under the secret key (hex, 32 characters)."""
        mac = hmac.new(self._naming, "\0".join(parts).encode(), hashlib.sha256)
        return mac.hexdigest()[:32]


def session_name(session_id: str) -> str:
    """The key name of a session: SHA-256 of its (random, 256-bit) id."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def _invalid_tag() -> type[Exception]:
    from cryptography.exceptions import InvalidTag

    return InvalidTag
