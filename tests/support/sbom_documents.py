"""SBOM documents as tools write them, built from a package list: SPDX 2.x JSON (with
the files and relationships that make real ones large), CycloneDX 1.5 JSON (nested
components, groups, ``metadata.component``) and BuildKit's in-toto statement carrying
an SPDX predicate."""

from __future__ import annotations

from typing import Any

from harness.images import dumps

SPDX_PREDICATE = "https://spdx.dev/Document"

# (name, version, group): a component's group ("" for none); version "" for none.
Pkg = tuple[str, str, str]


def _spdx_doc(packages: list[Pkg], version: str) -> dict[str, Any]:
    out = []
    for i, (name, ver, _) in enumerate(packages):
        entry: dict[str, Any] = {"name": name, "SPDXID": f"SPDXRef-Package-{i}"}
        if ver:
            entry["versionInfo"] = ver
        entry["filesAnalyzed"] = False
        out.append(entry)
    return {
        "spdxVersion": version,
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": "sbom",
        "documentNamespace": "https://example.invalid/spdx/sbom",
        "creationInfo": {"created": "2024-05-01T10:00:00Z", "creators": ["Tool: tests"]},
        "packages": out,
        "files": [{"fileName": "/etc/os-release", "SPDXID": "SPDXRef-File-0"}],
        "relationships": [
            {
                "spdxElementId": "SPDXRef-DOCUMENT",
                "relationshipType": "DESCRIBES",
                "relatedSpdxElement": "SPDXRef-Package-0",
            }
        ],
    }


def spdx_document(packages: list[Pkg], version: str = "SPDX-2.3") -> bytes:
    return dumps(_spdx_doc(packages, version))


def spdx_statement(packages: list[Pkg], subject: list[dict[str, Any]]) -> bytes:
    """An in-toto statement whose predicate is an SPDX document (BuildKit's SBOM)."""
    return dumps(
        {
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": SPDX_PREDICATE,
            "subject": subject,
            "predicate": _spdx_doc(packages, "SPDX-2.3"),
        }
    )


def cyclonedx(packages: list[Pkg], nest: bool = True) -> bytes:
    """CycloneDX 1.5: the first package is ``metadata.component``; with ``nest``, each
    later package is a component of the one before (nested as deep as the list)."""

    def component(p: Pkg) -> dict[str, Any]:
        name, version, group = p
        out: dict[str, Any] = {"type": "library", "name": name}
        if version:
            out["version"] = version
        if group:
            out["group"] = group
        return out

    head, *rest = packages
    components: list[dict[str, Any]] = []
    if nest and rest:
        outer = component(rest[0])
        components.append(outer)
        for p in rest[1:]:
            inner = component(p)
            outer["components"] = [inner]
            outer = inner
    else:
        components = [component(p) for p in rest]
    doc = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {"component": {**component(head), "type": "container"}},
        "components": components,
    }
    return dumps(doc)
