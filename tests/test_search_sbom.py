"""gateway.search.sbom: the packages an SBOM lists, per format, and its bounds."""

from __future__ import annotations

import base64
import json
import tracemalloc
from typing import Any

import pytest

from gateway.search import sbom
from gateway.search.sbom import MAX_BYTES, MAX_PACKAGES, package_label, parse
from tests.support.sbom_documents import cyclonedx, spdx_document


def _json(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def _statement(predicate_type: str, predicate: Any) -> dict[str, Any]:
    return {
        "_type": "https://in-toto.io/Statement/v0.1",
        "subject": [{"name": "x", "digest": {"sha256": "0" * 64}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    }


SPDX_23 = spdx_document([("openssl", "3.0.7", ""), ("base-files", "", ""), ("zlib", "1.3", "")])
SPDX_22 = spdx_document([("musl", "1.2.4", "")], version="SPDX-2.2")
CDX = cyclonedx(
    [
        ("app", "1.0", ""),
        ("log4j-core", "2.14.1", "org.apache.logging.log4j"),
        ("core", "7.24.0", "@babel"),
        ("jackson-core", "2.13.0", ""),
    ]
)
SPDX_DOC = json.loads(SPDX_23)

CASES: list[tuple[str, bytes, str, list[tuple[str, str]]]] = [
    (
        "SPDX 2.3; a package without versionInfo has version ''",
        SPDX_23,
        "spdx",
        [("base-files", ""), ("openssl", "3.0.7"), ("zlib", "1.3")],
    ),
    ("SPDX 2.2", SPDX_22, "spdx", [("musl", "1.2.4")]),
    (
        "CycloneDX: nested components, metadata.component, group/name and name",
        CDX,
        "cyclonedx",
        [
            ("@babel/core", "7.24.0"),
            ("app", "1.0"),
            ("core", "7.24.0"),
            ("jackson-core", "2.13.0"),
            ("log4j-core", "2.14.1"),
            ("org.apache.logging.log4j/log4j-core", "2.14.1"),
        ],
    ),
    (
        "in-toto statement with an SPDX predicate (BuildKit)",
        _json(_statement("https://spdx.dev/Document", SPDX_DOC)),
        "spdx",
        [("base-files", ""), ("openssl", "3.0.7"), ("zlib", "1.3")],
    ),
    (
        "in-toto statement, versioned SPDX predicate type",
        _json(_statement("https://spdx.dev/Document/v2.3", json.loads(SPDX_22))),
        "spdx",
        [("musl", "1.2.4")],
    ),
    (
        "in-toto statement with a CycloneDX predicate",
        _json(_statement("https://cyclonedx.org/bom/v1.5", {"components": [{"name": "a"}]})),
        "cyclonedx",
        [("a", "")],
    ),
    (
        "DSSE envelope around an SPDX statement (cosign .att)",
        _json(
            {
                "payloadType": "application/vnd.in-toto+json",
                "payload": base64.b64encode(
                    _json(_statement("https://spdx.dev/Document", SPDX_DOC))
                ).decode(),
                "signatures": [{"sig": "c2ln"}],
            }
        ),
        "spdx",
        [("base-files", ""), ("openssl", "3.0.7"), ("zlib", "1.3")],
    ),
    (
        "in-toto provenance: not an SBOM",
        _json(_statement("https://slsa.dev/provenance/v0.2", {"builder": {"id": "x"}})),
        "",
        [],
    ),
    (
        "duplicates listed once",
        _json(
            {
                "spdxVersion": "SPDX-2.3",
                "packages": [{"name": "a", "versionInfo": "1"}, {"name": "a", "versionInfo": "1"}],
            }
        ),
        "spdx",
        [("a", "1")],
    ),  # fmt: skip
    ("not JSON", b"\xff\xfe not json", "", []),
    ("a JSON list", b"[1, 2]", "", []),
    ("SPDX tag-value text", b"SPDXVersion: SPDX-2.3\nPackageName: a\n", "", []),
    (
        "wrong types skipped, the rest kept",
        _json(
            {
                "spdxVersion": "SPDX-2.3",
                "packages": [
                    {"name": 5},
                    {"name": "ok", "versionInfo": ["x"]},
                    "string",
                    {"name": "  spaced  ", "versionInfo": " 1.0 "},
                    {"name": "ctl\u0000", "versionInfo": "1"},
                    {"name": "x" * 257, "versionInfo": "1"},
                    {"name": "long-version", "versionInfo": "9" * 129},
                    {"name": ""},
                ],
            }
        ),
        "spdx",
        [("spaced", "1.0")],
    ),
    (
        "CycloneDX with components null",
        _json({"bomFormat": "CycloneDX", "components": None}),
        "cyclonedx",
        [],
    ),  # fmt: skip
]


@pytest.mark.parametrize(("why", "body", "fmt", "pairs"), CASES, ids=[c[0] for c in CASES])
def test_packages_of_each_format(
    why: str, body: bytes, fmt: str, pairs: list[tuple[str, str]]
) -> None:
    found = parse(body)
    assert found.format == fmt
    assert list(found.pairs) == pairs
    assert not found.truncated


def test_package_label() -> None:
    assert package_label("openssl", "3.0.7") == "openssl@3.0.7"
    assert package_label("base-files", "") == "base-files"


def test_too_many_packages_are_cut_and_said() -> None:
    doc = {
        "spdxVersion": "SPDX-2.3",
        "packages": [{"name": f"p{i}", "versionInfo": "1"} for i in range(MAX_PACKAGES + 50)],
    }
    found = parse(_json(doc))
    assert len(found.pairs) == MAX_PACKAGES
    assert found.truncated


def test_a_document_over_the_limit_is_not_read() -> None:
    body = b'{"spdxVersion": "SPDX-2.3", "packages": [], "pad": "' + b"x" * MAX_BYTES + b'"}'
    assert parse(body) == sbom.NONE


def test_deep_nesting_is_bounded() -> None:
    deep = b'{"components": ' * 50_000 + b"null" + b"}" * 50_000
    assert parse(deep) == sbom.NONE  # too deep for the parser: nothing, no crash
    inner: dict[str, Any] = {"name": "leaf", "version": "1"}
    for i in range(100):
        inner = {"name": f"n{i}", "components": [inner]}
    found = parse(_json({"bomFormat": "CycloneDX", "components": [inner]}))
    assert ("leaf", "1") not in found.pairs  # below MAX_DEPTH: not followed
    assert ("n99", "") in found.pairs


def test_nested_envelopes_are_not_followed_forever() -> None:
    body = _json(_statement("https://spdx.dev/Document", SPDX_DOC))
    for _ in range(5):
        payload = base64.b64encode(body).decode()
        body = _json({"payloadType": "application/vnd.in-toto+json", "payload": payload})
    assert parse(body) == sbom.NONE


def test_a_large_document_is_parsed_in_bounded_memory() -> None:
    """16 MiB of files and relationships (what makes real SBOMs big) around 2,000
    packages: only the kept keys are built, so memory follows the packages."""
    files = [
        {"fileName": f"/usr/lib/{i}", "SPDXID": f"F{i}", "checksums": []} for i in range(40_000)
    ]
    packages = [{"name": f"p{i}", "versionInfo": "1.0"} for i in range(2_000)]
    doc = {"spdxVersion": "SPDX-2.3", "packages": packages, "files": files}
    body = _json(doc)
    pad = (MAX_BYTES - len(body) - 100) // 40
    doc["relationships"] = [{"a": "SPDXRef-x", "b": "y"}] * pad
    body = _json(doc)
    assert len(body) <= MAX_BYTES
    tracemalloc.start()
    found = parse(body)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(found.pairs) == 2_000
    assert peak < 4 * len(body), (peak, len(body))  # the bytes' size, not ten times it
