"""Catalog search remembered per shared catalog (gateway/services/name_search.py)."""

from __future__ import annotations

import gc
import time

from gateway.services.name_search import NameSearch
from gateway.shared_lists import ListInterner

NAMES = sorted(f"team-{i % 97}/app-{i:06d}" for i in range(100_000))


def scan(names: list[str], needle: str) -> list[str]:
    return [n for n in names if needle in n]


def test_results_are_a_scans_in_catalog_order() -> None:
    catalog = ListInterner().intern(NAMES)
    search = NameSearch()
    for needle in ("app-0001", "team-5/", "12", "zzz", "team-96/app-09999"):
        assert search.find(catalog, needle) == scan(NAMES, needle)


def test_the_same_search_again_is_a_lookup() -> None:
    catalog = ListInterner().intern(NAMES)
    search = NameSearch()
    first = search.find(catalog, "app-01")
    assert search.find(catalog, "app-01") is first
    started = time.perf_counter()
    for _ in range(1000):
        search.find(catalog, "app-01")
    # A lookup, not a scan of 100,000 names (which takes milliseconds each).
    assert (time.perf_counter() - started) / 1000 < 0.0005


def test_a_longer_search_narrows_what_a_shorter_one_found() -> None:
    catalog = ListInterner().intern(NAMES)
    search = NameSearch()
    search.find(catalog, "app-0123")
    assert search.find(catalog, "app-01234") == scan(NAMES, "app-01234")
    assert search.find(catalog, "pp-0123") == scan(NAMES, "pp-0123")


def test_a_new_catalog_is_never_answered_from_an_old_ones_results() -> None:
    lists = ListInterner()
    search = NameSearch()
    old = lists.intern(["a/app", "b/app"])
    assert search.find(old, "app") == ["a/app", "b/app"]
    del old
    gc.collect()
    new = lists.intern(["c/app"])  # may well get the old one's id
    assert search.find(new, "app") == ["c/app"]


def test_a_plain_list_is_searched_without_being_remembered() -> None:
    search = NameSearch()
    assert search.find(["x/app", "y/web"], "app") == ["x/app"]


def test_the_joined_text_finds_what_a_scan_finds() -> None:
    """Matches at a name's start and end, in every name (past the find limit), none, and
    needles no name can hold: the same names as a scan, in the same order."""
    catalog = ListInterner().intern(NAMES)
    for needle in ("team-0/", "999", "-", "/app-0", "t", "app-099999", "", "a\nb", "\n"):
        assert NameSearch().find(catalog, needle) == scan(NAMES, needle), needle
    edges = ListInterner().intern(["ab", "b", "ba", "bb"])
    assert NameSearch().find(edges, "b") == ["ab", "b", "ba", "bb"]
    assert NameSearch().find(edges, "ab") == ["ab"]  # not "b\nba" across names
    assert NameSearch().find(edges, "bb") == ["bb"]
