"""Every setting is documented in .env.example and in the settings table of
docs/configuration.md."""

from __future__ import annotations

from pathlib import Path

from gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_documented() -> None:
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    table = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    names = [f"LR_{field.upper()}" for field in Settings.model_fields]
    assert "LR_REGISTRY_URL" in names
    missing_example = [n for n in names if f"#{n}=" not in example]
    missing_table = [n for n in names if f"| `{n}`" not in table and f"/ `{n}`" not in table]
    assert not missing_example, missing_example
    assert not missing_table, missing_table
