"""Catalogs and tag lists cached per caller but held once per content: callers answered
the same list point at one immutable copy; different answers stay apart; invalidation
drops every caller's entry and, with the last one, the copy."""

from __future__ import annotations

import asyncio
import base64
import gc
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest

from gateway.registry.client import RegistryClient
from gateway.registry.credentials import Caller, Credentials
from gateway.services.images import ImageService
from gateway.services.repositories import RepositoryService
from gateway.services.tags import TagService
from gateway.shared_lists import ListInterner, SharedList
from gateway.view import CachedRegistry

ALICE = Caller(Credentials("alice", "a-pass"), "basic")
BOB = Caller(Credentials("bob", "b-pass"), "basic")
CAROL = Caller(Credentials("carol", "c-pass"), "basic")

EVERYTHING = sorted(f"team/app-{i:03d}" for i in range(30))
TAGS = ["1.0", "1.10", "1.2", "1.9", "latest"]
# What each user is allowed to see: alice and bob the same, carol a part of it.
VISIBLE = {"alice": EVERYTHING, "bob": EVERYTHING, "carol": EVERYTHING[::3]}


def _user(request: httpx.Request) -> str | None:
    header = request.headers.get("authorization", "")
    if not header.startswith("Basic "):
        return None
    user, _, _password = base64.b64decode(header[6:]).decode().partition(":")
    return user


def registry(counter: Counter[str], tags_for: Callable[[str, str], list[str]] | None = None):  # type: ignore[no-untyped-def]
    """A registry on a MockTransport: Basic auth; each user's catalog from VISIBLE;
    the tag list of a repository the same for every user unless ``tags_for`` says."""

    def handler(request: httpx.Request) -> httpx.Response:
        user = _user(request)
        if user is None:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="test"'})
        path = request.url.path
        visible = VISIBLE[user]
        if path == "/v2/_catalog":
            counter["catalog"] += 1
            return httpx.Response(200, json={"repositories": visible})
        if path.endswith("/tags/list"):
            counter["tags"] += 1
            name = path.removeprefix("/v2/").removesuffix("/tags/list")
            if name not in visible:
                return httpx.Response(404, json={"errors": [{"code": "NAME_UNKNOWN"}]})
            tags = tags_for(user, name) if tags_for else TAGS
            return httpx.Response(200, json={"name": name, "tags": tags})
        return httpx.Response(404)

    return httpx.MockTransport(handler)


async def settle() -> None:
    """Let the loop run the callbacks of finished calls (which still refer to their
    results), then collect: what is left is what the caches hold."""
    for _ in range(3):
        await asyncio.sleep(0)
    gc.collect()


def run(
    transport: httpx.MockTransport,
    body: Callable[[CachedRegistry], Coroutine[Any, Any, None]],
) -> None:
    async def go() -> None:
        async with httpx.AsyncClient(transport=transport) as http:
            client = RegistryClient(http, "http://registry.test", page_size=1000)
            await body(CachedRegistry(client, content_bytes=1 << 20, ttl=60, access_ttl=60))

    asyncio.run(go())


def test_identical_lists_are_held_once() -> None:
    counter: Counter[str] = Counter()

    async def body(reg: CachedRegistry) -> None:
        a = await reg.catalog(ALICE)
        b = await reg.catalog(BOB)
        assert a == b == EVERYTHING
        assert a is b  # one copy for both callers
        assert reg.catalogs.get((ALICE.key,)) is reg.catalogs.get((BOB.key,))
        assert counter["catalog"] == 2  # each caller still asked the registry itself

        ta = await reg.tags(ALICE, EVERYTHING[0])
        tb = await reg.tags(BOB, EVERYTHING[0])
        assert ta is tb and ta == TAGS
        # the same tag list in other repositories: one copy for all of them too
        tc = await reg.tags(ALICE, EVERYTHING[1])
        assert tc is ta
        assert isinstance(a, SharedList) and isinstance(ta, SharedList)
        assert len(reg.lists) == 2  # the catalog and the tag list
        assert len(reg.catalogs) == 2 and len(reg.tag_lists) == 3  # per caller entries

    run(registry(counter), body)


def test_different_lists_stay_apart() -> None:
    counter: Counter[str] = Counter()

    def tags_for(user: str, name: str) -> list[str]:
        return ["only-bob"] if user == "bob" else TAGS

    async def body(reg: CachedRegistry) -> None:
        a = await reg.catalog(ALICE)
        c = await reg.catalog(CAROL)
        assert a == EVERYTHING
        assert c == EVERYTHING[::3]  # only what the registry answered carol
        assert a is not c
        assert reg.catalogs.get((CAROL.key,)) == EVERYTHING[::3]

        ta = await reg.tags(ALICE, EVERYTHING[0])
        tb = await reg.tags(BOB, EVERYTHING[0])
        assert ta == TAGS and tb == ["only-bob"]
        assert reg.tag_lists.get((BOB.key, EVERYTHING[0])) == ["only-bob"]
        assert reg.tag_lists.get((ALICE.key, EVERYTHING[0])) == TAGS
        # carol may not list a repository outside her catalog: no shared list leaks it
        hidden = EVERYTHING[1]
        with pytest.raises(Exception) as info:
            await reg.tags(CAROL, hidden)
        assert getattr(info.value, "code", None) == "NAME_UNKNOWN"
        assert reg.tag_lists.get((CAROL.key, hidden)) is None
        assert not reg.in_cached_catalog(CAROL, hidden)
        assert reg.in_cached_catalog(ALICE, hidden)

    run(registry(counter, tags_for), body)


def test_equal_digests_never_share_different_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    """The digest only finds a candidate; the entries decide."""
    monkeypatch.setattr("gateway.shared_lists._digest", lambda entries: b"same")
    lists = ListInterner()
    one = lists.intern(["a", "b"])
    two = lists.intern(["a", "c"])
    assert one == ["a", "b"] and two == ["a", "c"]
    assert lists.intern(["a", "b"]) is one
    assert lists.stored == 2 and lists.shared == 1


def test_invalidation_drops_every_caller_and_the_copy() -> None:
    counter: Counter[str] = Counter()

    async def body(reg: CachedRegistry) -> None:
        repo = EVERYTHING[0]
        for caller in (ALICE, BOB):
            await reg.catalog(caller)
            await reg.tags(caller, repo)
        assert len(reg.lists) == 2

        # a push to repo (events): both callers' tag lists go
        reg.forget_repository(repo, new_repo_possible=False)
        assert reg.tag_lists.get((ALICE.key, repo)) is None
        assert reg.tag_lists.get((BOB.key, repo)) is None
        await settle()
        assert len(reg.lists) == 1  # the tag list's copy went with its last entry
        # fetched again: the registry is asked again, for each caller
        before = counter["tags"]
        assert await reg.tags(ALICE, repo) == TAGS
        assert await reg.tags(BOB, repo) == TAGS
        assert counter["tags"] == before + 2

        # a repository neither shared catalog lists (it may be new): both catalogs go
        reg.forget_catalogs_lacking(["team/new"])
        assert reg.catalogs.get((ALICE.key,)) is None
        assert reg.catalogs.get((BOB.key,)) is None
        await settle()
        assert len(reg.lists) == 1  # only the tag list is left
        before = counter["catalog"]
        assert await reg.catalog(ALICE) == EVERYTHING
        assert counter["catalog"] == before + 1

    run(registry(counter), body)


def test_forget_caller_leaves_the_others_copy_intact() -> None:
    counter: Counter[str] = Counter()

    async def body(reg: CachedRegistry) -> None:
        repo = EVERYTHING[0]
        for caller in (ALICE, BOB):
            await reg.catalog(caller)
            await reg.tags(caller, repo)
        reg.forget_caller(ALICE.key)  # alice logged out
        assert reg.catalogs.get((ALICE.key,)) is None
        assert reg.tag_lists.get((ALICE.key, repo)) is None
        assert reg.catalogs.get((BOB.key,)) == EVERYTHING
        assert reg.tag_lists.get((BOB.key, repo)) == TAGS
        await settle()
        assert len(reg.lists) == 2  # bob still refers to both copies

    run(registry(counter), body)


def test_catalogs_lacking_checks_each_distinct_catalog_once() -> None:
    counter: Counter[str] = Counter()

    async def body(reg: CachedRegistry) -> None:
        for caller in (ALICE, BOB, CAROL):
            await reg.catalog(caller)
        # carol's catalog lacks EVERYTHING[1]; alice's and bob's (one copy) list it
        reg.forget_catalogs_lacking([EVERYTHING[1]])
        assert reg.catalogs.get((CAROL.key,)) is None
        assert reg.catalogs.get((ALICE.key,)) is reg.catalogs.get((BOB.key,)) is not None

    run(registry(counter), body)


def test_shared_lists_refuse_changes() -> None:
    shared = ListInterner().intern(["b", "a"])
    for change in (
        lambda: shared.append("x"),
        lambda: shared.extend(["x"]),
        lambda: shared.insert(0, "x"),
        lambda: shared.remove("a"),
        lambda: shared.pop(),
        lambda: shared.clear(),
        lambda: shared.sort(),
        lambda: shared.reverse(),
        lambda: shared.__setitem__(0, "x"),
        lambda: shared.__delitem__(0),
        lambda: shared.__iadd__(["x"]),
        lambda: shared.__imul__(2),
    ):
        with pytest.raises(TypeError):
            change()
    assert shared == ["b", "a"]
    # what consumers do makes lists of their own
    assert sorted(shared) == ["a", "b"]
    assert type(shared[:1]) is list and shared + ["c"] == ["b", "a", "c"]


def test_services_never_change_the_shared_lists() -> None:
    """The repositories and tags pages filter, sort and page the shared lists."""
    counter: Counter[str] = Counter()

    async def body(reg: CachedRegistry) -> None:
        repos = RepositoryService(reg)
        tags = TagService(reg, ImageService(reg))
        page = await repos.page(ALICE, n=5, last=None, q="APP-01")
        assert [r.name for r in page.repositories] == [n for n in EVERYTHING if "app-01" in n][:5]
        page = await repos.page(BOB, n=5, last=EVERYTHING[3], q=None)
        assert [r.name for r in page.repositories] == EVERYTHING[4:9]
        for sort in ("name", "-name", "version", "-version"):
            got = await tags.page(
                ALICE, EVERYTHING[0], n=3, last=None, q="1", sort=sort, details=False
            )  # type: ignore[arg-type]
            assert len(got.tags) == 3
        assert await reg.catalog(ALICE) == EVERYTHING
        assert await reg.tags(ALICE, EVERYTHING[0]) == TAGS

    run(registry(counter), body)
