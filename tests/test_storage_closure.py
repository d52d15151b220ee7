"""The accounting rules (services/storage_closure.py) and the retention selection
(services/retention.py), as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.errors import InvalidRequest
from gateway.models.usage import RetentionRules
from gateway.services.retention import compile_rules, newest_first, select
from gateway.services.storage_closure import (
    Node,
    closure,
    freed_bytes,
    registry_figures,
    repository_figures,
)

# Two images sharing layer L1; an index over image A and an attestation; a cycle.
NODES = {
    "A": Node("A", 10, (("cA", 5), ("L1", 100), ("L2", 50))),
    "B": Node("B", 11, (("cB", 6), ("L1", 100))),
    "att": Node("att", 7, (("cAtt", 1), ("S", 20))),
    "I": Node("I", 30, children=("A", "att", "missing")),
    "loop": Node("loop", 3, children=("loop",)),
}


def test_closure_counts_each_digest_once_and_skips_missing_children() -> None:
    assert closure("I", NODES) == {
        "I": 30,
        "A": 10,
        "cA": 5,
        "L1": 100,
        "L2": 50,
        "att": 7,
        "cAtt": 1,
        "S": 20,
    }
    assert closure("loop", NODES) == {"loop": 3}
    assert closure("missing", NODES) == {}


def test_repository_figures_exclusive_bytes() -> None:
    figures = repository_figures({"a": "A", "alias": "A", "b": "B", "multi": "I"}, NODES)
    rows = {row.tag: row for row in figures.by_tag}
    assert figures.total_bytes == 30 + 10 + 5 + 100 + 50 + 11 + 6 + 7 + 1 + 20
    assert figures.manifests == 4 and figures.blobs == 6
    assert rows["a"].bytes == 165 and rows["a"].exclusive_bytes == 0  # alias shares it
    assert rows["b"].exclusive_bytes == 11 + 6  # L1 is shared with A
    assert rows["multi"].exclusive_bytes == 30 + 7 + 1 + 20
    assert freed_bytes(figures.tag_items, {"a", "alias"}) == 0  # multi still reaches A
    assert freed_bytes(figures.tag_items, {"a", "alias", "multi"}) == 30 + 7 + 1 + 20 + 10 + 5 + 50


def test_registry_figures() -> None:
    figures = registry_figures({"x": {"L": 100, "x1": 5}, "y": {"L": 100, "y1": 7}, "z": {}})
    assert figures.total_bytes == 112 and figures.naive_bytes == 212
    assert figures.repositories == [("y", 107, 7), ("x", 105, 5), ("z", 0, 0)]


def test_newest_first_by_version_and_by_created() -> None:
    tags = ["1.10.0", "1.9.0", "latest", "2.0.0-rc1", "2.0.0", "main"]
    assert newest_first(tags, "version", {}) == [
        "2.0.0",
        "2.0.0-rc1",
        "1.10.0",
        "1.9.0",
        "latest",
        "main",
    ]
    created = {"1.9.0": "2024-06-01T00:00:00Z", "1.10.0": "2024-01-01T00:00:00Z", "main": None}
    assert newest_first(["main", "1.10.0", "1.9.0"], "created", created) == [
        "1.9.0",
        "1.10.0",
        "main",
    ]


def test_select_combines_the_rules() -> None:
    rules = compile_rules(
        RetentionRules(
            keep_last=1, sort="version", keep_regex="^latest$", match_regex=r"^\d|latest"
        )
    )
    picked = select(["1.0", "2.0", "latest", "main"], rules, {}, datetime.now(UTC))
    assert picked.delete == ["1.0"]
    assert picked.keep == {
        "main": "match_regex: not matched",
        "2.0": "keep_last: among the 1 newest by version",
        "latest": "keep_regex: matched",
    }
    old = compile_rules(RetentionRules(older_than_days=30))
    created = {"a": "2020-01-01T00:00:00Z", "b": None, "c": datetime.now(UTC).isoformat()}
    picked = select(["a", "b", "c"], old, created, datetime.now(UTC))
    assert picked.delete == ["a"]
    assert set(picked.keep) == {"b", "c"}


def test_an_invalid_regex_is_a_400() -> None:
    with pytest.raises(InvalidRequest) as caught:
        compile_rules(RetentionRules(keep_regex="(unclosed"))
    assert caught.value.status == 400 and caught.value.detail[0]["loc"] == ["body", "keep_regex"]
