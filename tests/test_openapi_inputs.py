"""The OpenAPI document describes the inputs the gateway enforces, and the two agree.

For the name, reference, tag and digest path parameters and the n/last/q/sort query
parameters: the schema carries the grammar of ``gateway.registry.names``; every example
the schema accepts is accepted by the gateway (not 400) and every example it refuses
is refused with 400 — checked against the real registry. The patterns are read as
ECMA-262 too (by Node, when installed), as a generated TypeScript client would.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from gateway.openapi_export import document as _document
from gateway.registry import names

DIGEST = "sha256:" + "0" * 64
NAME_255 = "a/" + "b" * 253


@cache
def document() -> dict[str, Any]:
    """The app's document, built once for the module."""
    return _document()


def _param(path: str, method: str, name: str) -> dict[str, Any]:
    op = document()["paths"][path][method]
    for param in op["parameters"]:
        if param["name"] == name:
            schema: dict[str, Any] = param["schema"]
            # An optional query parameter is anyOf [string, null]: the string is the rule.
            for alt in schema.get("anyOf", []):
                if alt.get("type") != "null":
                    return {**schema, **alt}
            return schema
    raise AssertionError(f"{method} {path} has no parameter {name}")


TAGS = "/api/repositories/{name}/tags"
REPOS = "/api/repositories"
IMAGE = "/api/repositories/{name}/images/{reference}"
BLOB = "/api/repositories/{name}/blobs/{digest}"
DELETE_TAG = "/api/repositories/{name}/tags/{tag}"


def test_path_parameters_carry_the_grammar() -> None:
    name = _param(TAGS, "get", "name")
    assert name["pattern"] == names.anchored(names.NAME_PATTERN)
    assert (name["minLength"], name["maxLength"]) == (1, names.NAME_MAX)
    reference = _param(IMAGE, "get", "reference")
    assert reference["pattern"] == names.anchored(names.REFERENCE_PATTERN)
    assert (reference["minLength"], reference["maxLength"]) == (1, names.REFERENCE_MAX)
    digest = _param(BLOB, "get", "digest")
    assert digest["pattern"] == names.anchored(names.SHA256_PATTERN)
    assert digest["minLength"] == digest["maxLength"] == 71
    tag = _param(DELETE_TAG, "delete", "tag")
    assert tag["pattern"] == names.anchored(names.TAG_PATTERN)
    assert (tag["minLength"], tag["maxLength"]) == (1, names.TAG_MAX)
    # Every operation with such a parameter says so, not only the ones above.
    for path, item in document()["paths"].items():
        for op in item.values():
            for param in op.get("parameters", []):
                if param["in"] == "path":
                    assert {"pattern", "minLength", "maxLength"} <= param["schema"].keys(), (
                        path,
                        param["name"],
                    )


def test_query_parameters_carry_their_bounds() -> None:
    for path, limit in ((REPOS, names.NAME_MAX), (TAGS, names.TAG_MAX)):
        for field in ("last", "q"):
            schema = _param(path, "get", field)
            assert schema["maxLength"] == limit
            assert "pattern" in schema
        n = _param(path, "get", "n")
        assert (n["minimum"], n["maximum"]) == (1, 1000)
    assert "name" in _param(TAGS, "get", "sort")["enum"]


def _schema_accepts(schema: dict[str, Any], value: Any) -> bool:
    """What a client validating against the schema decides (JSON Schema semantics)."""
    if schema.get("type") == "integer":
        return isinstance(value, int) and schema["minimum"] <= value <= schema["maximum"]
    if "enum" in schema:
        return value in schema["enum"]
    pattern = schema["pattern"]
    assert pattern.startswith("^") and pattern.endswith("$")
    inner = pattern[1:-1]  # fullmatch: Python's $ would also match before a final \n
    return (
        schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", 10**9)
        and re.fullmatch(inner, value) is not None
    )


# (path, method, parameter, url template, value, expected by the schema)
def _cases() -> list[tuple[str, str, str, str, Any, bool]]:
    cases: list[tuple[str, str, str, str, Any, bool]] = []

    def add(path: str, method: str, param: str, url: str, good: list[Any], bad: list[Any]) -> None:
        cases.extend((path, method, param, url, v, True) for v in good)
        cases.extend((path, method, param, url, v, False) for v in bad)

    add(
        TAGS, "get", "name", "/api/repositories/{}/tags",
        ["a", "oci/app", "multi/oci-index", "a.b_c__d-e---f/0/x9", "no-such/repo", NAME_255],
        ["A", "a//b", "-a", "a-", "a..b", "a___b", "a/", "/a", "", "a\n", "a" * 256,
         NAME_255 + "b"],
    )  # fmt: skip
    add(
        IMAGE, "get", "reference", "/api/repositories/oci/app/images/{}",
        ["1.0", "latest", "_x", "a..b", "v1.2.3-rc.1", "T" * 128, DIGEST],
        ["-x", ".x", "a b", "t" * 129, "a:b", "sha256:abc", "sha256:" + "A" * 64,
         "sha512:" + "0" * 128, "x\t"],
    )  # fmt: skip
    add(
        BLOB, "get", "digest", "/api/repositories/oci/app/blobs/{}",
        [DIGEST, "sha256:" + "0123456789abcdef" * 4],
        ["sha256:" + "0" * 63, "sha256:" + "0" * 65, "sha256:" + "F" * 64, "md5:" + "0" * 32,
         "SHA256:" + "0" * 64, "latest", "sha256:" + "0" * 63 + "\n"],
    )  # fmt: skip
    add(
        DELETE_TAG, "delete", "tag", "/api/repositories/oci/app/tags/{}",
        ["1.0", "no-such-tag", "_", "Z" * 128],
        ["-x", "a:b", "t" * 129, "a\r\nb", "é"],
    )  # fmt: skip
    add(
        REPOS, "get", "last", "/api/repositories?last={}",
        ["", "a", "oci/app", NAME_255],
        ["A", "a//b", "a\n", "a b", NAME_255 + "b"],
    )  # fmt: skip
    add(
        REPOS, "get", "q", "/api/repositories?q={}",
        ["", "oci", "OCI APP", "é", "a" * 255],
        ["a\x00", "a\n", "\x7f", "\t", "a" * 256],
    )  # fmt: skip
    add(
        TAGS, "get", "last", "/api/repositories/oci/app/tags?last={}",
        ["", "1.0", "latest", "A" * 128],
        ["-x", "a b", "t" * 129, "a\n"],
    )  # fmt: skip
    add(
        TAGS, "get", "q", "/api/repositories/oci/app/tags?q={}",
        ["", "1.", "V2 beta", "a" * 128],
        ["\x1f", "a\r", "a" * 129],
    )  # fmt: skip
    add(TAGS, "get", "n", "/api/repositories/oci/app/tags?n={}", [1, 1000], [0, 1001, -1])
    add(
        TAGS, "get", "sort", "/api/repositories/oci/app/tags?sort={}",
        ["name", "-name", "version", "-version", "created", "-created"],
        ["size", "NAME", "", "name "],
    )  # fmt: skip
    return cases


CASES = _cases()


def _id(case: tuple[str, str, str, str, Any, bool]) -> str:
    _, method, param, _, value, good = case
    text = repr(value)
    text = text if len(text) < 30 else f"{text[:20]}…({len(str(value))})"
    return f"{method}-{param}-{'good' if good else 'bad'}-{text}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_schema_and_enforcement_agree(
    api: TestClient, case: tuple[str, str, str, str, Any, bool]
) -> None:
    path, method, param, url, value, good = case
    schema = _param(path, method, param)
    assert _schema_accepts(schema, value) is good, (schema, value)
    r = api.request(method.upper(), url.format(quote(str(value), safe="/")))
    if good:
        assert r.status_code != 400, r.text
    else:
        assert r.status_code == 400, r.text
        code = r.json()["error"]["code"]
        expected = {
            "name": {"NAME_INVALID"},
            "reference": {"TAG_INVALID", "DIGEST_INVALID"},
            "digest": {"DIGEST_INVALID"},
            "tag": {"TAG_INVALID"},
        }.get(param, {"VALIDATION_ERROR"})
        assert code in expected, r.text


def test_patterns_read_the_same_as_ecma_262() -> None:
    """The patterns mean the same to JavaScript (a generated client, a form's
    ``pattern`` check) as to the gateway: Node's RegExp, with and without ``u``."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (scripts/test.sh installs it)")
    checks = []
    for path, method, param, _, value, _ in CASES:
        schema = _param(path, method, param)
        if "pattern" in schema and isinstance(value, str):
            expected = re.fullmatch(schema["pattern"][1:-1], value) is not None
            checks.append({"pattern": schema["pattern"], "value": value, "expected": expected})
    script = (
        "const checks = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "const wrong = checks.filter(c => [new RegExp(c.pattern), new RegExp(c.pattern, 'u')]"
        ".some(r => r.test(c.value) !== c.expected));"
        "process.stdout.write(JSON.stringify(wrong));"
    )
    done = subprocess.run(  # noqa: S603 - a fixed script, no shell
        [node, "-e", script],
        input=json.dumps(checks),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert len(checks) > 40
    assert json.loads(done.stdout) == []
