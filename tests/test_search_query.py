"""gateway.search.query: the four kinds, the search box's syntax, the cursor."""

from __future__ import annotations

import pytest

from gateway.errors import DigestInvalid, InvalidRequest
from gateway.search.query import (
    NameSearch,
    Query,
    decode_cursor,
    encode_cursor,
    from_box,
    from_params,
    page_size,
)

HEX = "a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"digest": f"sha256:{HEX}"}, Query("digest", f"sha256:{HEX}", hex=HEX)),
        ({"digest": f"SHA256:{HEX.upper()}"}, Query("digest", f"sha256:{HEX}", hex=HEX)),
        ({"digest": HEX[:12]}, Query("digest", HEX[:12], hex=HEX[:12])),
        ({"digest": f"sha256:{HEX[:13]}"}, Query("digest", f"sha256:{HEX[:13]}", hex=HEX[:13])),
        ({"label": "team"}, Query("label", "team", key="team", value=None)),
        ({"label": "team=web"}, Query("label", "team=web", key="team", value="web")),
        ({"label": "a=b=c"}, Query("label", "a=b=c", key="a", value="b=c")),
        ({"label": "stage="}, Query("label", "stage=", key="stage", value="")),
        ({"tag": "*-rc*"}, Query("tag", "*-rc*", like="%-rc%")),
        ({"tag": "v1.?_x"}, Query("tag", "v1.?_x", like="v1._\\_x")),
        ({"package": "openssl"}, Query("package", "openssl", key="openssl", value=None)),
        (
            {"package": "openssl@3.0.7"},
            Query("package", "openssl@3.0.7", key="openssl", value="3.0.7"),
        ),
        ({"package": "@babel/core"}, Query("package", "@babel/core", key="@babel/core")),
        (
            {"package": "@babel/core@7.24.0"},
            Query("package", "@babel/core@7.24.0", key="@babel/core", value="7.24.0"),
        ),
    ],
)
def test_each_kind_parsed(params: dict[str, str], expected: Query) -> None:
    assert from_params(**params) == expected


@pytest.mark.parametrize(
    ("params", "error", "code"),
    [
        ({}, InvalidRequest, "VALIDATION_ERROR"),
        ({"digest": HEX, "tag": "x"}, InvalidRequest, "VALIDATION_ERROR"),
        ({"digest": HEX[:11]}, DigestInvalid, "DIGEST_INVALID"),
        ({"digest": "sha512:" + "a" * 128}, DigestInvalid, "DIGEST_INVALID"),
        ({"digest": HEX + "0"}, DigestInvalid, "DIGEST_INVALID"),
        ({"digest": "g" * 20}, DigestInvalid, "DIGEST_INVALID"),
        ({"label": ""}, InvalidRequest, "VALIDATION_ERROR"),
        ({"label": "=value"}, InvalidRequest, "VALIDATION_ERROR"),
        ({"label": "k\x00"}, InvalidRequest, "VALIDATION_ERROR"),
        ({"label": "k=" + "v" * 1025}, InvalidRequest, "VALIDATION_ERROR"),
        ({"tag": ""}, InvalidRequest, "TAG_INVALID"),
        ({"tag": "a/b"}, InvalidRequest, "TAG_INVALID"),
        ({"tag": "100%"}, InvalidRequest, "TAG_INVALID"),
        ({"tag": "[ab]"}, InvalidRequest, "TAG_INVALID"),
        ({"tag": "*" * 257}, InvalidRequest, "TAG_INVALID"),
        ({"package": ""}, InvalidRequest, "VALIDATION_ERROR"),
        ({"package": "openssl@"}, InvalidRequest, "VALIDATION_ERROR"),
        ({"package": "x" * 257}, InvalidRequest, "VALIDATION_ERROR"),
    ],
)
def test_refusals_are_400s_that_echo_little(
    params: dict[str, str], error: type[InvalidRequest], code: str
) -> None:
    with pytest.raises(error) as caught:
        from_params(**params)
    assert caught.value.status == 400 and caught.value.code == code
    assert len(str(caught.value.detail)) < 200


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        (
            "label:org.opencontainers.image.source=https://x",
            "label",
            "org.opencontainers.image.source",
        ),
        ("tag:*-rc*", "tag", "%-rc%"),
        ("pkg:openssl@3.0.7", "package", "openssl"),
        ("package:log4j-core", "package", "log4j-core"),
        (f"sha256:{HEX}", "digest", HEX),
        (f"digest:{HEX[:12]}", "digest", HEX[:12]),
        (f"  {HEX[:16].upper()} ", "digest", HEX[:16]),
    ],
)
def test_the_search_box(text: str, kind: str, value: str) -> None:
    query = from_box(text)
    assert isinstance(query, Query) and query.kind == kind
    assert value in (query.hex, query.key, query.like)


@pytest.mark.parametrize("text", ["nginx", "library/nginx", "abc123", "deadbeef", "team:web"])
def test_anything_else_in_the_box_filters_names(text: str) -> None:
    assert from_box(text) == NameSearch(text)


def test_the_box_refuses_a_bad_prefixed_query() -> None:
    with pytest.raises(InvalidRequest):
        from_box("tag:a/b")


def test_cursor_round_trip_and_garbage() -> None:
    key = ("team/app", "1.0", "linux/arm64/v8", "layer", f"sha256:{HEX}")
    assert decode_cursor(encode_cursor(key)) == key
    assert decode_cursor(None) is None and decode_cursor("") is None
    for bad in ("!!!", "e30", encode_cursor(key)[:-3], "a" * 3000, "WzEsMiwzLDQsNV0"):
        with pytest.raises(InvalidRequest):
            decode_cursor(bad)


def test_page_size() -> None:
    assert page_size(None) == 50 and page_size(1) == 1 and page_size(1000) == 1000
    for bad in (0, 1001, -1):
        with pytest.raises(InvalidRequest):
            page_size(bad)
