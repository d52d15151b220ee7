"""Where a benchmark's Markdown report goes: printed, and written to ``out`` (relative
paths are below the repository root)."""

from __future__ import annotations

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
