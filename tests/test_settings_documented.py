"""Every setting is documented in .env.example and in the README's table."""

from __future__ import annotations

from pathlib import Path

from gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_documented() -> None:
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    names = [f"LR_{field.upper()}" for field in Settings.model_fields]
    assert "LR_REGISTRY_URL" in names
    missing_example = [n for n in names if f"{n}=" not in example]
    missing_readme = [n for n in names if f"`{n}`" not in readme]
    assert not missing_example, missing_example
    assert not missing_readme, missing_readme
