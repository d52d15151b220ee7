"""Whether the registry accepts a user's credentials: what a login (and the session
endpoint, for Basic callers) asks before it says "authenticated"."""

from __future__ import annotations

from gateway.registry.client import RegistryClient
from gateway.registry.credentials import Caller


class Logins:
    def __init__(self, client: RegistryClient) -> None:
        self._client = client

    async def check(self, caller: Caller) -> None:
        """Raise Unauthorized unless the registry accepted these credentials."""
        await self._client.check_login(caller)
