"""The committed OpenAPI document is the app's own, and it is typed throughout."""

from __future__ import annotations

import json
from pathlib import Path

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
