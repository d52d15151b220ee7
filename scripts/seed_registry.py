"""Fill a registry with a small demo set: python scripts/seed_registry.py URL [--username U].

Pushes a few images, a 3-platform index with attestations, nested repository names and
version tags. Content is deterministic, so running it again pushes the same digests.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.images import (  # noqa: E402
    PushedImage,
    PushedIndex,
    Pusher,
    push_artifact,
    push_image,
    push_index,
    tag_existing,
)
from harness.realworld import push_realworld  # noqa: E402


def seed(p: Pusher) -> list[PushedImage | PushedIndex]:
    pushed: list[PushedImage | PushedIndex] = []
    hello = push_image(
        p,
        "demo/hello",
        "1.0",
        labels={"org.opencontainers.image.title": "hello"},
        cmd=["/hello"],
        exposed_ports=["8080/tcp"],
        created="2024-05-01T10:00:00Z",
    )
    tag_existing(p, "demo/hello", "latest", hello)
    pushed += [hello, dataclasses.replace(hello, tag="latest")]

    repo = "demo/multiarch"
    children = [
        push_image(p, repo, None, architecture="amd64", created="2024-05-02T10:00:00Z"),
        push_image(
            p, repo, None, architecture="arm64", variant="v8", created="2024-05-02T10:05:00Z"
        ),
        push_image(p, repo, None, architecture="arm", variant="v7", created="2024-05-02T10:02:00Z"),
    ]
    index = push_index(p, repo, "1.0.0", children, attest=True)
    tag_existing(p, repo, "latest", index)
    pushed += [index, dataclasses.replace(index, tag="latest")]

    pushed.append(
        push_image(p, "demo/legacy", "1.0", oci=False, env=["MODE=legacy"], empty_history=2)
    )
    for tag, created in (
        ("v1.0.0", "2024-01-10T09:00:00Z"),
        ("v1.1.0", "2024-02-10T09:00:00Z"),
        ("v1.2.0-rc1", "2024-03-10T09:00:00Z"),
    ):
        pushed.append(push_image(p, "team/backend/api", tag, created=created, n_layers=1))
    tag_existing(p, "team/backend/api", "latest", pushed[-2])
    pushed.append(dataclasses.replace(pushed[-2], tag="latest"))
    pushed.append(push_image(p, "team/frontend/web", "2024.05.01", n_layers=1))
    pushed.append(push_artifact(p, "charts/demo", "0.1.0"))
    return pushed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url", help="registry base URL, e.g. http://127.0.0.1:5000")
    parser.add_argument("--username")
    parser.add_argument("--password")
    parser.add_argument(
        "--realworld", action="store_true", help="also push the real-world fixture documents"
    )
    args = parser.parse_args(argv)
    with Pusher(args.url, args.username, args.password) as p:
        for item in seed(p):
            kind = "index" if isinstance(item, PushedIndex) else "image"
            print(f"{kind:6} {item.reference:40} {item.digest}")
        if args.realworld:
            for ref, outcome in push_realworld(p).items():
                print(f"{'real':6} {ref:40} {outcome}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
