"""The OCI distribution-spec conformance suite, run against a registry or the gateway.

The suite (a Go main package, built by harness/go_peers.py) is configured by
``OCI_*`` variables and writes ``junit.xml`` to ``OCI_RESULTS_DIR``; every leaf test
there is one ``<testcase>`` with a ``status`` of passed, failure, error or skipped. All
four workflows (pull, push, content discovery, content management) run in one go:
every API and data set of the suite is left on, as it defaults.

Leaves are compared by name *and* occurrence (several leaves share a name, e.g. each
blob of an image gets its own ``push/blob-post-put``), which is stable: the suite
generates the same content in the same order against any registry.

``python -m harness.conformance`` runs the whole comparison (registry alone vs the
gateway, on every version) and prints the tables of docs/conformance.md; the test
(tests/test_conformance.py) runs the same comparison and asserts on it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness import go_peers

RUN_TIMEOUT = 300.0
WORKFLOWS = ("pull", "push", "content discovery", "content management")
PASSED = "passed"

# The leaf names of each workflow but pull (the rest: ping, GETs, HEADs, ranges).
_MANAGEMENT = {"blob-delete", "manifest-delete", "tag-delete", "blob-post-cancel"}
_DISCOVERY = {"tag-list", "tag list", "referrers"}
_PUSH = {
    "blob-post-put",
    "blob-post-only",
    "blob-patch-chunked",
    "blob-patch-stream",
    "blob-mount",
    "blob-mount-anonymous",
    "manifest-put",
}


@dataclass(frozen=True)
class Leaf:
    """One leaf test: its name (``OCI Conformance Test/…/leaf``), which occurrence of
    that name it is, and its status."""

    name: str
    occurrence: int
    status: str

    @property
    def key(self) -> tuple[str, int]:
        return (self.name, self.occurrence)

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    @property
    def workflow(self) -> str:
        return workflow_of(self.name)

    @property
    def about_referrers(self) -> bool:
        """A referrers or subject test (OCI 1.1): the ``referrers`` leaves and every
        leaf of the data sets that carry a ``subject``."""
        parts = self.name.split("/")
        return parts[-1] == "referrers" or any("subject" in p for p in parts[1:-1])


def workflow_of(name: str) -> str:
    parts = name.split("/")
    leaf = parts[-1]
    if leaf in _MANAGEMENT:
        return "content management"
    if leaf in _DISCOVERY:
        return "content discovery"
    if leaf in _PUSH or "push" in parts[1:-1]:
        return "push"
    return "pull"


@dataclass(frozen=True)
class Results:
    leaves: tuple[Leaf, ...]
    junit: Path

    @property
    def passed(self) -> int:
        return sum(leaf.passed for leaf in self.leaves)

    def by_key(self) -> dict[tuple[str, int], Leaf]:
        return {leaf.key: leaf for leaf in self.leaves}

    def per_workflow(self) -> dict[str, tuple[int, int]]:
        """workflow -> (passed, total)."""
        totals: dict[str, list[int]] = {w: [0, 0] for w in WORKFLOWS}
        for leaf in self.leaves:
            entry = totals[leaf.workflow]
            entry[0] += leaf.passed
            entry[1] += 1
        return {w: (p, t) for w, (p, t) in totals.items()}

    def failing(self, only: Iterable[Leaf] | None = None) -> list[Leaf]:
        return [leaf for leaf in (self.leaves if only is None else only) if not leaf.passed]


def parse_junit(path: Path) -> Results:
    """Every ``<testcase>`` of the suite's ``junit.xml``, numbered per name."""
    root = ET.parse(path).getroot()  # noqa: S314 - our own suite's output, on our disk
    seen: Counter[str] = Counter()
    leaves = []
    for case in root.iter("testcase"):
        name = case.attrib["name"]
        status = case.attrib.get("status") or _status_of(case)
        leaves.append(Leaf(name, seen[name], status))
        seen[name] += 1
    if not leaves:
        raise ValueError(f"{path} holds no test cases")
    return Results(tuple(leaves), path)


def _status_of(case: ET.Element) -> str:
    for tag in ("failure", "error", "skipped"):
        if case.find(tag) is not None:
            return tag
    return PASSED


def lost(baseline: Results, candidate: Results) -> list[str]:
    """The leaves the baseline passes and the candidate does not (or lacks)."""
    theirs = candidate.by_key()
    out = []
    for leaf in baseline.leaves:
        other = theirs.get(leaf.key)
        if leaf.passed and (other is None or not other.passed):
            status = "missing" if other is None else other.status
            out.append(f"{leaf.name} #{leaf.occurrence}: {status}")
    return out


def run_suite(host: str, results_dir: Path, *, username: str = "", password: str = "") -> Results:
    """Run the suite against ``host`` (``127.0.0.1:PORT``, plain HTTP), every workflow,
    with its results in ``results_dir``."""
    binary = go_peers.ensure("conformance")
    results_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCI_")}
    env.update(
        {
            "OCI_REGISTRY": host,
            "OCI_TLS": "disabled",
            "OCI_RESULTS_DIR": str(results_dir),
            "OCI_REPO1": "conformance/repo1",
            "OCI_REPO2": "conformance/repo2",
            "OCI_USERNAME": username,
            "OCI_PASSWORD": password,
            "OCI_LOG": "error",
        }
    )
    done = subprocess.run(  # noqa: S603 - fixed argv
        [str(binary)],
        cwd=results_dir,  # holds no oci-conformance.yaml: the variables are the config
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    (results_dir / "output.txt").write_text(done.stdout + done.stderr, encoding="utf-8")
    junit = results_dir / "junit.xml"
    if not junit.is_file():
        raise RuntimeError(
            f"the conformance suite wrote no junit.xml (exit {done.returncode}):\n"
            + (done.stdout + done.stderr)[-3000:]
        )
    return parse_junit(junit)


def table(rows: dict[str, Results]) -> str:
    """A Markdown table: one row per run, passed/total per workflow and in all."""
    head = "| run | " + " | ".join(WORKFLOWS) + " | all |"
    lines = [head, "|" + "---|" * (len(WORKFLOWS) + 2)]
    for label, results in rows.items():
        cells = [f"{p} / {t}" for p, t in results.per_workflow().values()]
        cells.append(f"**{results.passed} / {len(results.leaves)}**")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


@contextmanager
def _pair(root: Path, version: str) -> Iterator[tuple[str, str]]:
    """A fresh registry of ``version`` and, beside it, a fresh one behind the gateway
    (a ``python -m gateway`` process; push mode, deletes on): their hosts."""
    from harness.registry import start_registry
    from harness.replicas import start_replica

    alone = start_registry(root / f"alone-{version}", version=version)  # type: ignore[arg-type]
    behind = start_registry(root / f"behind-{version}", version=version)  # type: ignore[arg-type]
    gateway = None
    try:
        settings = {
            "LR_REGISTRY_URL": behind.url,
            "LR_V2_MODE": "push",
            "LR_DELETE_ENABLED": "true",
            "LR_DATA_DIR": str(root / f"gateway-{version}"),
            "LR_LOG_LEVEL": "warning",
        }
        gateway = start_replica(root, settings)
        yield alone.host, gateway.url.removeprefix("http://")
    finally:
        if gateway is not None:
            gateway.stop()
        alone.stop()
        behind.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.conformance",
        description="Run the OCI conformance suite against distribution alone and "
        "through the gateway; print the comparison as Markdown.",
    )
    parser.add_argument("--versions", nargs="*", default=["3.0", "3.1"])
    parser.add_argument("--keep", type=Path, help="keep results (junit.xml, report.html) here")
    args = parser.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="lr-conformance-"))
    status = 0
    for version in args.versions:
        with _pair(root, version) as (alone, gateway):
            started = time.monotonic()
            base = run_suite(alone, root / f"results-{version}-registry")
            through = run_suite(gateway, root / f"results-{version}-gateway")
            took = time.monotonic() - started
        print(f"\n### distribution {version} ({took:.0f}s)\n")
        print(table({"registry alone": base, "through the gateway": through}))
        losses = lost(base, through)
        gained = lost(through, base)
        print(f"\nlost through the gateway: {len(losses)}")
        for line in losses:
            print("  -", line)
        print(f"passed through the gateway only: {len(gained)}")
        for line in gained:
            print("  -", line)
        if losses:
            status = 1
    print(f"\nresults under {root}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
