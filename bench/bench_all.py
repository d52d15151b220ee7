"""Every figure of the fast-at-scale targets, in one run, each with its baseline from the
same run:

    python bench/bench_all.py [--quick] [--out bench/results/all-latest.md]

Runs, one after the other (so that they do not share the two cores):

- ``bench_load.py``: warm throughput of three pages against a bare FastAPI endpoint at
  1, 16 and 64 connections (``wrk``, a real registry), and the gateway's RSS with a
  100,000-repository catalog and 10,000 images cached (a stand-in registry);
- ``bench_scale.py``: the cold catalog walk and cold detail rows against a raw httpx
  client, a 10,000-tag repository, and warm search over 100,000 names.

and writes both reports into one, headed by every row that carries a verdict. About
15 minutes on two cores (``--quick``: shorter runs and a 2,000-tag repository, about 6).
Needs ``/usr/bin/docker-registry`` and ``wrk``; uses 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report import git_describe, write_report  # noqa: E402


def run(script: str, args: list[str], out: Path) -> str:
    command = [sys.executable, str(ROOT / "bench" / script), *args, "--out", str(out)]
    print("$", " ".join(command[1:]), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)  # noqa: S603 - our own scripts
    return out.read_text(encoding="utf-8")


VERDICT = re.compile(r"\| (PASS|MISS)[^|]*\|$")


def verdict_rows(report: str) -> list[str]:
    """The table rows that end with a verdict, as list items (their tables differ)."""
    return [f"- `{line}`" for line in report.splitlines() if VERDICT.search(line)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="bench/results/all-latest.md")
    args = parser.parse_args(argv)
    load_args = ["--duration", "2"] if args.quick else []
    scale_args = ["--runs", "1", "--big-tags", "2000"] if args.quick else []
    with tempfile.TemporaryDirectory(prefix="lr-bench-all-") as tmp:
        load = run("bench_load.py", load_args, Path(tmp) / "load.md")
        scale = run("bench_scale.py", scale_args, Path(tmp) / "scale.md")
    rows = verdict_rows(load) + verdict_rows(scale)
    misses = sum("| MISS" in row for row in rows)
    text = "\n".join(
        [
            "# Light Registry: every fast-at-scale figure",
            "",
            f"- commit {git_describe()}; {len(rows)} targets, {len(rows) - misses} met, "
            f"{misses} missed (the rows below; the reports follow)",
            "",
            *rows,
            "",
            load.replace("# Light Registry", "## Light Registry", 1),
            scale.replace("# Light Registry", "## Light Registry", 1),
        ]
    )
    write_report(text, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
