"""Write the app's OpenAPI document: ``python -m gateway.openapi_export [PATH]``.

The committed ``openapi/openapi.json`` must equal this output (a test checks it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from gateway.main import create_app
from gateway.settings import Settings


def document() -> dict[str, Any]:
    app = create_app(Settings(_env_file=None))
    return app.openapi()


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else Path(__file__).resolve().parents[1] / "openapi/openapi.json"
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
