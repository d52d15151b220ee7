"""Registry tokens in Redis, for every replica: the second level of ``TokenCache``.

One key per (caller, realm, service, scopes): ``lr:t:<h(caller, realm, service,
scopes)>``, the caller being its shared name (an HMAC of its credentials), so neither
the credentials nor the scopes show in the name. The value is ``{"v": token, "e":
expiry}`` sealed (tokens are bearer secrets). The key lives until the token is due for
renewal (its validity minus ``RENEW_MARGIN``): Redis drops it when this process would
have. Failures are misses: the token is fetched from the token server as without Redis.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

from gateway.registry.auth import RENEW_MARGIN, TokenKey
from gateway.registry.credentials import Caller
from gateway.shared_state.keys import Sealer, SealError
from gateway.shared_state.store import KEY_PREFIX, RedisStore, StoreUnavailable


class SharedTokens:
    def __init__(
        self, store: RedisStore, sealer: Sealer, caller_name: Callable[[Caller], str]
    ) -> None:
        self.store = store
        self.sealer = sealer
        self.caller_name = caller_name
        # Plain integers, read by the metrics collector at scrape time.
        self.hits = 0
        self.misses = 0

    def _name(self, caller: Caller, key: TokenKey) -> str:
        _local, realm, service, scopes = key
        hashed = self.sealer.name("t", self.caller_name(caller), realm, service, " ".join(scopes))
        return f"{KEY_PREFIX}t:{hashed}"

    async def get(self, caller: Caller, key: TokenKey) -> tuple[str, float] | None:
        if not self.store.usable:
            return None
        name = self._name(caller, key)
        try:
            sealed = await self.store.get(name)
        except StoreUnavailable:
            return None
        if sealed is None:
            self.misses += 1
            return None
        try:
            record: Any = json.loads(self.sealer.open(sealed, name))
            value, expiry = str(record["v"]), float(record["e"])
        except (SealError, ValueError, KeyError, TypeError):
            self.misses += 1
            return None
        self.hits += 1
        return value, expiry - time.time()

    async def put(self, caller: Caller, key: TokenKey, value: str, lifetime: float) -> None:
        keep = lifetime - RENEW_MARGIN
        if keep <= 0 or not self.store.usable:
            return
        name = self._name(caller, key)
        record = json.dumps({"v": value, "e": time.time() + lifetime}).encode()
        with contextlib.suppress(StoreUnavailable):
            await self.store.set(name, self.sealer.seal(record, name), keep)
