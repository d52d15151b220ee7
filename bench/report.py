"""What every benchmark's Markdown report shares: the commit measured, PASS/MISS, and
where it goes (printed, and written to ``out``; relative paths are below the
repository root)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write_report(text: str, out: str | Path) -> Path:
    path = Path(out)
    if not path.is_absolute():
        path = ROOT / path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print()
    print(text, end="")
    print(f"\nwritten to {path}")
    return path


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def git_describe() -> str:
    """The commit measured, and whether gateway/ differed from it."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no", "gateway"],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + (" (gateway/ modified)" if dirty else "")
