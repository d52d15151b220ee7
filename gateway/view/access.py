"""Who may see what: the one rule, and how the registry's word on it is learnt.

Content is immutable, access is not. A repository's data reaches a caller only after
the registry confirmed *that caller's* access to *that repository* (a tag list or a
manifest fetched with the caller's own credentials), remembered per (caller,
repository) for ``LR_ACCESS_TTL``. Content by digest is shared between callers, but is
served under a repository only when the digest is known to belong to it (membership):
otherwise a caller allowed on one repository could read another's content by naming
its digest. Membership comes from the registry answering for that repository, never
from what a document claims: an index may name children its repository does not hold
(a sparse index, or a broken one).

``sees`` is that rule, in process only: the warm path (every ``peek_*``) asks it and
nothing else. The slow path asks ``admit`` (which starts with ``sees``, then Redis, then
the registry) and ``member``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from gateway.errors import NameUnknown, NotFound
from gateway.registry.credentials import Caller
from gateway.view.caches import ViewCaches, stored_key

Proof = Callable[[], Awaitable[object]]


class Gate:
    def __init__(
        self,
        caches: ViewCaches,
        tag_list: Callable[[Caller, str], Awaitable[object]],
        refresh: Callable[[Caller, str], None] | None = None,
    ) -> None:
        self.access = caches.access
        self.membership = caches.membership
        self._tag_list = tag_list
        self._refresh = refresh

    def sees(self, caller: Caller, repo: str, digest: str | None = None) -> bool:
        """Whether ``caller`` may be shown ``repo``'s data (and ``digest``'s content as
        ``repo``'s), from what this process knows: the registry confirmed the caller's
        access, and the digest belongs to the repository. No I/O.

        A confirmation past ``LR_ACCESS_TTL`` still counts within ``LR_STALE_TTL``, and
        has the caller's tag list read again in the background (``refresh``): a refusal
        then drops it, and everything served on its word."""
        key = (caller.key, repo)
        if not self.access.peek(key):
            if self._refresh is None or not self.access.peek_stale(key):
                return False
            self._refresh(caller, repo)
        return digest is None or bool(self.membership.peek((repo, digest)))

    async def admit(self, caller: Caller, repo: str, proof: Proof | None = None) -> None:
        """Raise (401/403/404) unless the registry lets this caller read this repository.

        The tag list is the usual proof. A repository that was never tagged (images
        pushed by digest only, as CI does before it assembles an index) has none: the
        registry answers NAME_UNKNOWN to its tags/list. Then ``proof`` (a HEAD of the
        very manifest or blob asked for, with the caller's credentials) decides.
        """
        if self.sees(caller, repo):
            return
        if (await self.access.get((stored_key(caller.key), repo), caller, local=False)).value:
            return
        try:
            await self._tag_list(caller, repo)
        except NameUnknown as exc:
            if proof is None:
                raise
            try:
                await proof()
            except NotFound:
                raise exc from None  # nothing there either: an unknown repository
            await self.confirm(caller, repo)

    def note(self, caller: Caller, repo: str) -> None:
        """The registry just answered this caller for this repository (in process)."""
        self.access.local.put((stored_key(caller.key), repo), True)

    async def confirm(self, caller: Caller, repo: str) -> None:
        """Remember that the registry let this caller read this repository (both levels)."""
        await self.access.put((stored_key(caller.key), repo), True, caller)

    async def member(self, repo: str, digest: str) -> bool:
        """Whether ``digest`` is known to belong to ``repo`` (in process, then Redis)."""
        return bool((await self.membership.get((repo, digest))).value)

    async def admit_content(
        self, caller: Caller, repo: str, digest: str, proof: Proof | None = None
    ) -> bool:
        """``sees`` for ``digest``'s content under ``repo``, with I/O: False when the
        digest is not known to belong to the repository; else the caller is admitted
        (``admit``, which raises if the registry refuses) and True."""
        if not await self.member(repo, digest):
            return False
        await self.admit(caller, repo, proof)
        return True
