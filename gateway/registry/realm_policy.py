"""Which token realms may receive a request, and which may receive credentials.

A registry's 401 names the realm that issues tokens. A hostile or misconfigured registry
can name any URL there (CVE-2026-33540: a proxy sent its credentials to whatever realm a
challenge named). Realms must be on the allowlist: the registry's own host plus the hosts
configured in ``LR_TOKEN_REALM_ALLOWLIST``. Never over http when the registry is https,
never to link-local or cloud metadata addresses, whatever the allowlist says.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

from gateway.errors import RealmNotAllowed, UpstreamInvalid

# Digits, hex digits and dots only: what inet_aton may read as an IPv4 address.
_NUMERIC_HOST_RE = re.compile(r"(?=.*[0-9])[0-9a-fx.]+", re.ASCII | re.IGNORECASE)
_METADATA_HOSTS = frozenset(
    {"metadata.google.internal", "metadata", "metadata.azure.internal", "instance-data"}
)


def _as_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address ``host`` names, in any spelling the resolver accepts, else None.

    ``getaddrinfo`` (C ``inet_aton``) reads ``2852039166``, ``0xa9fea9fe``,
    ``169.254.43518`` and ``0251.0376.0251.0376`` all as 169.254.169.254; a check that
    only knew the dotted-quad form would let them through.
    """
    host = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if not _NUMERIC_HOST_RE.fullmatch(host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _is_forbidden_address(host: str) -> bool:
    ip = _as_address(host)
    if ip is None:
        return host.lower().rstrip(".") in _METADATA_HOSTS
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return True
    return str(ip) in {"100.100.100.200", "fd00:ec2::254"}


def _redirect_problem(url: str, registry_scheme: str) -> str | None:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        return "not an http(s) URL"
    if parts.username or parts.password:
        return "the URL carries credentials"
    if _is_forbidden_address(host):
        return "it points at a link-local or metadata address"
    if registry_scheme == "https" and parts.scheme != "https":
        return "it would downgrade https to http"
    return None


class RealmPolicy:
    def __init__(self, registry_url: str, extra_hosts: list[str] | None = None) -> None:
        parts = urlsplit(registry_url)
        self.registry_scheme = parts.scheme
        self.allowed_hosts = {(parts.hostname or "").lower()}
        self.allowed_hosts.update(h.strip().lower() for h in (extra_hosts or []) if h.strip())

    def check_redirect(self, url: str) -> str:
        """A blob redirect (object storage, a CDN) may go to any host, but never to a
        link-local or metadata address, nor from https down to http. No credentials
        follow it (httpx drops Authorization when the origin changes)."""
        reason = _redirect_problem(url, self.registry_scheme)
        if reason:
            raise UpstreamInvalid(
                f"refused the registry's redirect: {reason}",
                detail={"host": urlsplit(url).hostname},
            )
        return url

    def check(self, realm: str | None) -> str:
        """Return the realm if a token request may go there; raise RealmNotAllowed otherwise."""
        if not realm:
            raise RealmNotAllowed("the registry asked for a token but named no realm")
        parts = urlsplit(realm)
        host = (parts.hostname or "").lower()
        reason = None
        if parts.scheme not in ("http", "https") or not host:
            reason = "the realm is not an http(s) URL"
        elif parts.username or parts.password:
            reason = "the realm URL carries credentials"
        elif _is_forbidden_address(host):
            reason = "the realm points at a link-local or metadata address"
        elif self.registry_scheme == "https" and parts.scheme != "https":
            reason = "the realm would downgrade https to http"
        elif host not in self.allowed_hosts:
            reason = "the realm's host is not on the allowlist (LR_TOKEN_REALM_ALLOWLIST)"
        if reason:
            raise RealmNotAllowed(
                f"refused the registry's token realm: {reason}",
                detail={"realm_host": host or None},
            )
        return realm
