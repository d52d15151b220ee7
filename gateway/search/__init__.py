"""Registry-wide search: an index of what every tag is, and its answers.

::

    sbom.py       SBOM documents → name@version pairs (SPDX, CycloneDX, in-toto, DSSE)
    documents.py  manifest / index / config bytes → the facts kept (parts, labels, platform)
    schema.py     the SQLite tables (search.sqlite3 under LR_DATA_DIR), digests as stored
    writes.py     the units fed to it: a tag list, a push, a delete, documents, SBOMs
    walk.py       what the walker asks: what is due, what is missing; prune
    query.py      the four kinds of search and the search box's syntax, checked; cursors
    lookup.py     a page of results from the index alone, within the caller's rights
    index.py      SearchIndex: the one object the gateway holds (async, one thread)
    metrics.py    counters, turned into Prometheus families when scraped

The index is derived data kept per replica: everything in it can be read again from the
registry, so it is never shared through Redis and a schema change may start it afresh.
It reads nothing itself: a walker (and the notifications) feed it what they read, and
searches name the repositories the caller may pull.
"""

from __future__ import annotations

from .documents import DocumentRefused, Facts
from .index import Sbom, SearchIndex
from .lookup import Indexed, Match, Page, Result, Visible
from .metrics import SearchMetrics
from .query import NameSearch, Query, decode_cursor, from_box, from_params, page_size
from .walk import Pruned, RepoState, Wanted
from .writes import TagsApplied

__all__ = [
    "DocumentRefused",
    "Facts",
    "Indexed",
    "Match",
    "NameSearch",
    "Page",
    "Pruned",
    "Query",
    "RepoState",
    "Result",
    "Sbom",
    "SearchIndex",
    "SearchMetrics",
    "TagsApplied",
    "Visible",
    "Wanted",
    "decode_cursor",
    "from_box",
    "from_params",
    "page_size",
]
