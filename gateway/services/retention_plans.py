"""Where retention plans wait to be applied: in the process, and with ``LR_REDIS_URL`` in
Redis too, so that a preview answered by one replica can be applied through another
(a round-robin balancer sends the two requests anywhere).

A plan is the caller's own: looked up by its id, and refused (as unknown) to any other
caller or repository. In Redis the key is the id's keyed hash (``Sealer.name``) and the
value is sealed (AES-GCM: it names the caller's key and the repository's tags), with a
TTL of what is left of the plan's life. Applied once: the plan is taken (``GETDEL``) by
the one replica whose apply goes ahead. When Redis does not answer, the plan is still
kept and found in this process — apply on the replica that made the preview.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Any

from gateway.models.usage import RetentionPlan
from gateway.shared_state.keys import Sealer, SealError
from gateway.shared_state.store import KEY_PREFIX, RedisStore, StoreUnavailable

MAX_PLANS = 1000  # plans kept in process at most, over all callers (the oldest go first)


@dataclass(frozen=True)
class Plan:
    plan_id: str
    caller_key: str
    repo: str
    expires: float  # time.time()
    expires_at: str
    delete: dict[str, str]  # tag -> digest
    manifests: list[str]  # parents before children
    answer: RetentionPlan

    def to_json(self) -> bytes:
        data = asdict(self)
        data["answer"] = self.answer.model_dump(mode="json")
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Plan:
        data: dict[str, Any] = json.loads(raw)
        data["answer"] = RetentionPlan.model_validate(data["answer"])
        return cls(**data)


class PlanStore:
    def __init__(self, shared: RedisStore | None = None, sealer: Sealer | None = None) -> None:
        self._plans: OrderedDict[str, Plan] = OrderedDict()
        self.shared = shared if sealer is not None else None
        self.sealer = sealer

    def _key(self, plan_id: str) -> str:
        assert self.sealer is not None
        return f"{KEY_PREFIX}plan:{self.sealer.name('plan', plan_id)}"

    async def put(self, plan: Plan) -> None:
        now = time.time()
        for plan_id in [p.plan_id for p in self._plans.values() if p.expires <= now]:
            del self._plans[plan_id]
        while len(self._plans) >= MAX_PLANS:
            self._plans.popitem(last=False)
        self._plans[plan.plan_id] = plan
        if self.shared is not None and self.sealer is not None:
            key = self._key(plan.plan_id)
            sealed = self.sealer.seal(plan.to_json(), key)
            with contextlib.suppress(StoreUnavailable):  # kept here: apply through this one
                await self.shared.set(key, sealed, plan.expires - now)

    async def get(self, caller_key: str, repo: str, plan_id: str) -> Plan | None:
        """The caller's plan for ``repo``, or None (unknown, expired, applied, or someone
        else's). With Redis, Redis says (another replica may have applied it); this
        process's copy only when Redis does not answer."""
        plan = self._plans.get(plan_id)
        if self.shared is not None and self.sealer is not None:
            key = self._key(plan_id)
            try:
                raw = await self.shared.get(key)
            except StoreUnavailable:
                pass  # this process's copy, if it has one
            else:
                plan = None
                if raw is not None:
                    try:
                        plan = Plan.from_json(self.sealer.open(raw, key))
                    except (SealError, ValueError, TypeError):
                        plan = None  # sealed under a retired key, or not a plan: unknown
                if plan is None:
                    self._plans.pop(plan_id, None)
        if plan is not None and plan.expires <= time.time():
            self._plans.pop(plan_id, None)
            plan = None
        if plan is None or plan.caller_key != caller_key or plan.repo != repo:
            return None
        return plan

    async def take(self, plan: Plan) -> bool:
        """Claim the plan for one apply: False when another apply took it first."""
        local = self._plans.pop(plan.plan_id, None) is not None
        if self.shared is None:
            return local
        try:
            return await self.shared.getdel(self._key(plan.plan_id)) is not None
        except StoreUnavailable:
            return local
