"""``GET /api/config``: what any SPA needs to choose its screens, never a secret."""

from __future__ import annotations

from typing import Literal, cast

from gateway import __version__
from gateway.dependencies import State
from gateway.models.api import AuthConfig, Config, FeaturesConfig, RegistryConfig
from gateway.routers.routing import GatewayRouter

router = GatewayRouter(tags=["config"])

AuthScheme = Literal["none", "basic", "bearer"]


@router.get("/api/config", response_model=Config)
async def config(state: State) -> Config:
    """The gateway's version, the registry's auth situation, the enabled features and the
    host for `docker pull` commands. Answers 200 even when the registry is down
    (`registry.reachable` is then false and `auth` the last known answer)."""
    settings = state.settings
    ping = await state.status.recent()
    scheme = state.status.known_auth
    auth = cast(AuthScheme, scheme if scheme in ("none", "basic", "bearer") else "none")
    return Config(
        version=__version__,
        auth=AuthConfig(
            registry=auth,
            service_account=state.service_account is not None,
            login=auth != "none",
        ),
        features=FeaturesConfig(
            delete=settings.delete_enabled,
            events=settings.events_token is not None,
            v2=settings.v2_mode,
            redis=state.shared is not None,
        ),
        registry=RegistryConfig(pull_host=settings.registry_pull_host, reachable=ping.reachable),
    )
