"""Fill a registry with the demo set: python scripts/seed_registry.py URL [--username U].

Pushes what the reference UI can show (harness/demo.py): a signed image with an
SBOM, a 3-platform index with BuildKit attestations, a Helm chart, a Docker schema 2
image, nested names and version tags, and repositories of 60 and 240 tags (--small
leaves those two out). Content is deterministic, so running it again pushes the same
digests.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.demo import seed_demo  # noqa: E402
from harness.images import PushedIndex, Pusher  # noqa: E402
from harness.realworld import push_realworld  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url", help="registry base URL, e.g. http://127.0.0.1:5000")
    parser.add_argument("--username")
    parser.add_argument("--password")
    parser.add_argument(
        "--small", action="store_true", help="leave out the 60- and 240-tag repositories"
    )
    parser.add_argument(
        "--realworld", action="store_true", help="also push the real-world fixture documents"
    )
    args = parser.parse_args(argv)
    with Pusher(args.url, args.username, args.password) as p:
        demo = seed_demo(p, large=not args.small)
        per_repo = Counter(key.split(":", 1)[0] for key in demo.pushed)
        for key, item in demo.pushed.items():
            repo = key.split(":", 1)[0]
            if per_repo[repo] > 5:
                continue  # the large repositories get one line each, below
            kind = "index" if isinstance(item, PushedIndex) else "image"
            config_type = getattr(item, "config_media_type", "")
            if "helm" in config_type:
                kind = "chart"
            elif config_type and "image.config" not in config_type:
                kind = "artifact"
            print(f"{kind:6} {key:40} {item.digest}")
        for repo, count in sorted(per_repo.items()):
            if count > 5:
                print(f"{'tags':6} {repo + ':…':40} {count} tags")
        for tag, digest in demo.webapp_tags.items():
            print(f"{'files':6} {demo.webapp + ':' + tag:40} {digest}")
        print(f"{'signed':6} {demo.signed:40} signature {demo.signature}")
        print(f"{'sbom':6} {demo.signed:40} SPDX SBOM {demo.sbom}")
        if args.realworld:
            for ref, outcome in push_realworld(p).items():
                print(f"{'real':6} {ref:40} {outcome}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
