"""The committed OpenAPI document is the app's own, and it is typed throughout."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.openapi_export import document, render

COMMITTED = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"


def test_committed_document_matches_the_app() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == render(), (
        "openapi/openapi.json is stale: run `python -m gateway.openapi_export`"
    )


def test_served_document_is_the_same(api) -> None:  # type: ignore[no-untyped-def]
    served = api.get("/openapi.json").json()
    assert served == json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert api.get("/docs").status_code == 200


def test_every_operation_is_typed_and_documents_errors() -> None:
    doc = document()
    ids = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            ids.append(op["operationId"])
            assert "__" not in op["operationId"], op["operationId"]
            responses = op["responses"]
            assert "422" not in responses, (method, path)
            for status, response in responses.items():
                content = response.get("content", {})
                if status.startswith("2") and "application/json" in content:
                    schema = content["application/json"]["schema"]
                    assert "$ref" in schema, (method, path, status, schema)
                if status[0] in "45":
                    ref = content["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorResponse"), (method, path, status)
    assert len(ids) == len(set(ids))
    expected = {
        "health",
        "list_repositories",
        "list_tags",
        "get_image",
        "get_image_config",
        "get_manifest",
        "get_blob",
        "delete_image",
        "delete_tag",
        "login",
        "who_am_i",
        "logout",
        "registry_events",
    }
    assert expected <= set(ids)


def test_no_untyped_objects_in_api_models() -> None:
    """Response models are named schemas, not free-form dicts (detail excepted)."""
    schemas = document()["components"]["schemas"]
    for name in ("ImageDetail", "TagPage", "RepositoryPage", "ImageConfig", "Health"):
        assert name in schemas
        for field, spec in schemas[name]["properties"].items():
            assert spec != {"type": "object"}, (name, field)


# -- described for a frontend developer --------------------------------------------------

GATEWAY = Path(__file__).resolve().parents[1] / "gateway"
CODE_IN_TEXT = re.compile(r"`([A-Z][A-Z0-9_]+)`")


def _described(schemas: dict[str, Any], spec: dict[str, Any], seen: frozenset[str]) -> bool:
    """A property is described by its own description, or by a ``$ref`` (possibly in an
    anyOf with null) whose target has a description or is described field by field."""
    if spec.get("description"):
        return True
    refs = [spec["$ref"]] if "$ref" in spec else []
    refs += [alt["$ref"] for alt in spec.get("anyOf", []) if "$ref" in alt]
    if not refs:
        return False
    for ref in refs:
        name = ref.rsplit("/", 1)[-1]
        target = schemas[name]
        if target.get("description") or name in seen:
            continue
        props = target.get("properties", {})
        if not props or not all(_described(schemas, p, seen | {name}) for p in props.values()):
            return False
    return True


def test_every_schema_property_is_described() -> None:
    schemas = document()["components"]["schemas"]
    props = [
        (name, field, spec)
        for name, schema in schemas.items()
        for field, spec in schema.get("properties", {}).items()
    ]
    missing = [f"{n}.{f}" for n, f, spec in props if not _described(schemas, spec, frozenset())]
    assert len(props) > 100
    assert missing == [], f"{len(missing)} of {len(props)} properties have no description"


def test_every_operation_has_a_summary_and_a_description() -> None:
    for path, item in document()["paths"].items():
        for method, op in item.items():
            assert op.get("summary"), (method, path)
            assert op.get("description"), (method, path)


def _error_responses() -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    for path, item in document()["paths"].items():
        for method, op in item.items():
            for status, response in op["responses"].items():
                if status[0] in "45":
                    yield method, path, status, response


def test_every_error_response_lists_its_codes() -> None:
    source = "\n".join(
        p.read_text(encoding="utf-8")
        for p in GATEWAY.rglob("*.py")
        if p != GATEWAY / "routers" / "__init__.py"
    )
    count = 0
    for method, path, status, response in _error_responses():
        codes = response.get("x-error-codes")
        assert codes, (method, path, status, "lists no error code")
        assert codes == CODE_IN_TEXT.findall(response["description"]), (method, path, status)
        for code in codes:
            # Documented codes are ones the gateway really produces somewhere.
            assert f'"{code}"' in source, (method, path, status, code)
        count += 1
    assert count >= 60


def _codes(method: str, path: str, status: int) -> list[str]:
    op = document()["paths"][path][method]
    return list(op["responses"][str(status)]["x-error-codes"])


@pytest.mark.parametrize(
    ("method", "url", "path", "status"),
    [
        ("get", "/api/repositories?n=0", "/api/repositories", 400),
        ("get", "/api/repositories/nope/tags", "/api/repositories/{name}/tags", 404),
        ("get", "/api/repositories/oci/app/tags?sort=size", "/api/repositories/{name}/tags", 400),
        (
            "get",
            "/api/repositories/oci/app/images/nope",
            "/api/repositories/{name}/images/{reference}",
            404,
        ),
        (
            "get",
            "/api/repositories/oci/app/images/-bad",
            "/api/repositories/{name}/images/{reference}",
            400,
        ),
        (
            "get",
            "/api/repositories/multi/oci-index/images/1.0.0/config",
            "/api/repositories/{name}/images/{reference}/config",
            400,
        ),
        (
            "get",
            "/api/repositories/multi/oci-index/images/1.0.0/config?platform=linux/s390x",
            "/api/repositories/{name}/images/{reference}/config",
            404,
        ),
        (
            "get",
            "/api/repositories/oci/app/blobs/sha256:" + "0" * 64,
            "/api/repositories/{name}/blobs/{digest}",
            404,
        ),
        (
            "get",
            "/api/repositories/Bad/manifests/1.0",
            "/api/repositories/{name}/manifests/{reference}",
            400,
        ),
        (
            "delete",
            "/api/repositories/oci/app/tags/1.0",
            "/api/repositories/{name}/tags/{tag}",
            403,
        ),
        ("post", "/api/events", "/api/events", 404),
    ],
)
def test_real_errors_carry_documented_codes(
    api: Any, method: str, url: str, path: str, status: int
) -> None:
    response = api.request(method.upper(), url)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] in _codes(method, path, status)
