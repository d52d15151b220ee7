"""Settings: environment variables with the ``LR_`` prefix, also read from ``.env``.

Secrets are ``SecretStr`` so they never show up in a repr, a log line or a traceback.
``get_settings()`` builds them on demand; nothing is read at import time.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MiB = 1024 * 1024
_LABEL = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?"
_DNS_NAME_RE = re.compile(rf"{_LABEL}(\.{_LABEL})*", re.ASCII)
_PULL_HOST_RE = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")

# The Content-Security-Policy of every HTML answer (the SPA, the reference UI, the docs).
DEFAULT_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _is_host(value: str) -> bool:
    try:
        ipaddress.ip_address(value.removeprefix("[").removesuffix("]"))
    except ValueError:
        return _DNS_NAME_RE.fullmatch(value) is not None
    return True


class Settings(BaseSettings):
    """Every knob of the gateway. Names are fixed by the deployment contract."""

    model_config = SettingsConfigDict(
        env_prefix="LR_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
    )

    registry_url: str = "http://localhost:5000"
    registry_username: str | None = None
    registry_password: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    delete_enabled: bool = False
    v2_mode: Literal["off", "pull", "push"] = "pull"
    events_token: SecretStr | None = None
    metrics_token: SecretStr | None = None
    # Shared with the nginx in front (deploy/nginx-blob-offload.conf): a /v2 blob pull
    # that carries it in X-LR-Offload is handed to nginx (X-Accel-Redirect), an upload
    # step granted to it (auth_request); unset: off.
    blob_offload_secret: SecretStr | None = None

    public_url: str | None = None
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    token_realm_allowlist: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cookie_secure: Literal["auto", "true", "false"] = "auto"
    session_idle_seconds: int = Field(default=1800, ge=60)
    session_max_seconds: int = Field(default=43200, ge=60)
    session_max_count: int = Field(default=10000, ge=1)

    cache_ttl: float = Field(default=30.0, ge=0)
    access_ttl: float = Field(default=30.0, ge=0)
    # Seconds past those a list, pointer or access is still answered while it is read
    # again in the background (stale-while-revalidate; 0: off).
    stale_ttl: float = Field(default=300.0, ge=0)
    content_cache_bytes: int = Field(default=256 * MiB, ge=0)
    # Parsed documents, image rows and tag-row summaries (measured sizes; see sizing.py).
    model_cache_bytes: int = Field(default=32 * MiB, ge=0)
    # Manifests and configs kept on disk under data_dir, for restarts (0: off).
    disk_cache_bytes: int = Field(default=512 * MiB, ge=0)
    upstream_concurrency: int = Field(default=16, ge=1, le=1000)
    # Repositories with more tags get tag->digest (and dates) from a background index.
    tag_index_min_tags: int = Field(default=200, ge=0)
    tag_index_ttl: float = Field(default=600.0, gt=0)
    # Registry-wide search (gateway.search): a repository's tag list is read again this
    # many seconds after it was last read whole; notifications keep it fresh meanwhile.
    search_index_ttl: float = Field(default=3600.0, gt=0)
    catalog_page_size: int = Field(default=1000, ge=1, le=1000)
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=30.0, gt=0)
    request_timeout: float = Field(default=30.0, gt=0, le=3600)
    pool_max_connections: int = Field(default=100, ge=1)
    pool_max_keepalive: int = Field(default=20, ge=0)
    pool_max_downloads: int = Field(default=50, ge=1)
    max_config_bytes: int = Field(default=16 * MiB, ge=1024)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"
    shutdown_timeout: int = Field(default=30, ge=1, le=3600)

    spa_dir: Path | None = None
    # State kept on disk (gateway.datastore): created on first start, relative to the
    # working folder unless absolute.
    data_dir: Path = Path("data")
    # Activity records kept (gateway.activity): the oldest go first; the latest pull of
    # each digest and push of each tag are kept apart, as long as the registry has them.
    activity_max_events: int = Field(default=100_000, ge=100, le=100_000_000)
    csp: str = DEFAULT_CSP
    pull_host: str | None = None

    # Files inside images (gateway.layers): bounds of one layer read, the disk budget of
    # the indexes kept (least recently used dropped first), layers read at once.
    layer_max_bytes: int = Field(default=2 * 1024 * MiB, ge=1)
    layer_max_expanded_bytes: int = Field(default=8 * 1024 * MiB, ge=1)
    layer_index_bytes: int = Field(default=1024 * MiB, ge=0)
    layer_index_concurrency: int = Field(default=2, ge=1, le=64)

    # Several replicas sharing state (gateway.shared_state); unset: all in-process.
    redis_url: SecretStr | None = None
    # The password of LR_REDIS_URL's user, for a URL without one: any characters, not
    # percent-encoded (what compose can pass on from a .env as it is).
    redis_password: SecretStr | None = None
    secret_key: SecretStr | None = Field(default=None, validate_default=True)
    secret_key_previous: SecretStr | None = None
    redis_timeout: float = Field(default=0.1, gt=0, le=10)
    redis_pool_size: int = Field(default=32, ge=1, le=1000)

    @field_validator("cors_origins", "token_realm_allowlist", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("registry_url", "public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        if parts.username or parts.password:
            raise ValueError("must not carry credentials; use LR_REGISTRY_USERNAME/PASSWORD")
        try:
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            raise ValueError(f"has an invalid port ({exc})") from None
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        return value

    @field_validator("token_realm_allowlist")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        out = []
        for host in value:
            host = host.lower().rstrip(".")
            if not _is_host(host):
                raise ValueError(f"{host!r} is not a host name or IP address (no scheme, no port)")
            out.append(host.removeprefix("[").removesuffix("]"))
        return out

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        out = []
        for origin in value:
            if origin == "*":
                raise ValueError("'*' is not allowed (credentials are sent); list the origins")
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
                raise ValueError(f"{origin!r} is not an origin like https://ui.example.com")
            out.append(origin.rstrip("/"))
        return out

    @field_validator("spa_dir")
    @classmethod
    def _spa_dir(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        if not value.is_dir():
            raise ValueError(f"{value} is not a folder (point it at a built SPA, e.g. dist/)")
        if not (value / "index.html").is_file():
            raise ValueError(f"{value} has no index.html (is it the output of a build?)")
        return value.resolve()

    @field_validator("csp")
    @classmethod
    def _csp(cls, value: str) -> str:
        value = value.strip()
        if not value or not all(" " <= c <= "~" for c in value):
            raise ValueError("must be one non-empty line of printable ASCII (a header value)")
        return value

    @field_validator("blob_offload_secret")
    @classmethod
    def _offload_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        secret = value.get_secret_value()
        if len(secret) < 16 or not all("!" <= c <= "~" and c not in "\"'\\;$" for c in secret):
            raise ValueError(
                "must be at least 16 printable ASCII characters without spaces, quotes, "
                "backslashes, semicolons or $ (it goes into an nginx configuration)"
            )
        return value

    @field_validator("pull_host")
    @classmethod
    def _pull_host(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if _PULL_HOST_RE.fullmatch(value) is None:
            raise ValueError("must be host[:port] as used in docker pull, without a scheme")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        parts = urlsplit(value.get_secret_value().strip())
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ValueError("must be a redis:// or rediss:// URL with a host")
        try:
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise ValueError("has an invalid port") from None
        return SecretStr(value.get_secret_value().strip())

    @field_validator("redis_password")
    @classmethod
    def _redis_password(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        url = info.data.get("redis_url")
        if url is None:
            raise ValueError("is set, but LR_REDIS_URL is not")
        in_url = urlsplit(url.get_secret_value()).password
        if in_url is not None and unquote(in_url) != value.get_secret_value():
            raise ValueError("differs from the password in LR_REDIS_URL: keep it in one place")
        return value

    @field_validator("secret_key", "secret_key_previous")
    @classmethod
    def _secret_key(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None:
            if info.field_name == "secret_key" and info.data.get("redis_url") is not None:
                raise ValueError(
                    "is required when LR_REDIS_URL is set (32 random bytes as 64 hex "
                    "characters: python3 -c 'import secrets; print(secrets.token_hex(32))')"
                )
            return None
        from gateway.shared_state.keys import parse_secret_key

        parse_secret_key(value.get_secret_value())
        return value

    @property
    def secret_keys(self) -> tuple[bytes, bytes | None] | None:
        """(current, previous) secret key bytes, or None without ``LR_SECRET_KEY``."""
        from gateway.shared_state.keys import parse_secret_key

        if self.secret_key is None:
            return None
        previous = self.secret_key_previous
        return (
            parse_secret_key(self.secret_key.get_secret_value()),
            None if previous is None else parse_secret_key(previous.get_secret_value()),
        )

    @property
    def registry_pull_host(self) -> str | None:
        """What ``docker pull`` names: LR_PULL_HOST; unset, None while the gateway serves
        ``/v2`` itself (pulls go through it: a UI shows the host it was loaded from, the
        one name every client of the gateway can reach — the registry's may be known
        only to a private network), else the registry URL's host[:port]."""
        if self.pull_host:
            return self.pull_host
        if self.v2_mode != "off":
            return None
        return urlsplit(self.registry_url).netloc

    @property
    def registry_host(self) -> str:
        return urlsplit(self.registry_url).hostname or ""

    @property
    def registry_scheme(self) -> str:
        return urlsplit(self.registry_url).scheme


class SettingsError(Exception):
    """A setting could not be parsed; the message is one line naming it."""


def get_settings(**overrides: object) -> Settings:
    """Build settings from the environment (and ``.env``), turning errors into one line."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = "LR_" + "_".join(str(p) for p in err["loc"]).upper()
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{name}: {msg}")
        raise SettingsError("invalid setting " + "; ".join(problems)) from None
    except UnicodeDecodeError:
        raise SettingsError("cannot read .env: it is not UTF-8 text") from None
