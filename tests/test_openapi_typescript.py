"""A TypeScript client generated from openapi/openapi.json compiles, unchanged.

``openapi-typescript`` turns the committed document into
``tests/typescript/generated/api.d.ts``; ``tsc`` (strict, no emit) then checks
``tests/typescript/client.ts``, which reads the fields an SPA relies on with their
types. A field that disappears or changes type fails here, before any SPA build does.
The tools are pinned in ``tests/typescript/package-lock.json`` (``npm ci``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent / "typescript"
BIN = HERE / "node_modules" / ".bin"
DOCUMENT = "../../openapi/openapi.json"
GENERATED = HERE / "generated" / "api.d.ts"


def _run(*args: str, timeout: float) -> str:
    """Run a command in tests/typescript; fail the test with its output if it fails."""
    try:
        done = subprocess.run(  # noqa: S603 - fixed commands, no shell
            args, cwd=HERE, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(args)} took more than {timeout}s:\n{exc.stdout}\n{exc.stderr}")
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}",
            pytrace=False,
        )
    return done.stdout


def _installed_as_pinned() -> bool:
    """Whether node_modules holds exactly the versions package.json pins."""
    wanted = json.loads((HERE / "package.json").read_text(encoding="utf-8"))["devDependencies"]
    for name, version in wanted.items():
        manifest = HERE / "node_modules" / name / "package.json"
        if not manifest.is_file():
            return False
        if json.loads(manifest.read_text(encoding="utf-8")).get("version") != version:
            return False
    return (BIN / "openapi-typescript").exists() and (BIN / "tsc").exists()


@pytest.fixture(scope="session")
def node_tools() -> Path:
    """The pinned openapi-typescript and tsc, installed with ``npm ci`` when missing
    (a clean clone has no node_modules)."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.skip(
            f"{' and '.join(missing)} not installed: the TypeScript client check needs "
            "Node.js and npm (scripts/test.sh installs them)"
        )
    if not _installed_as_pinned():
        _run("npm", "ci", "--no-audit", "--no-fund", timeout=300)
    return BIN


def test_generated_client_compiles(node_tools: Path) -> None:
    GENERATED.unlink(missing_ok=True)
    _run(str(node_tools / "openapi-typescript"), DOCUMENT, "-o", "generated/api.d.ts", timeout=120)
    generated = GENERATED.read_text(encoding="utf-8")
    assert "export interface paths" in generated
    assert '"/api/repositories/{name}/tags"' in generated
    _run(str(node_tools / "tsc"), "-p", ".", timeout=120)
