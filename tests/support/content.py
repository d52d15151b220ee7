"""The standard content every integration test can rely on (see ``fill_standard``)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.images import (
    PushedImage,
    PushedIndex,
    Pusher,
    push_artifact,
    push_image,
    push_index,
    tag_existing,
)

# versions/app: tag -> created; tags on the same line share a digest.
VERSION_TAGS: list[tuple[str, str]] = [
    ("0.9", "2023-01-10T09:00:00Z"),
    ("1.9.0", "2023-06-01T09:00:00Z"),
    ("1.10.0-rc1", "2023-07-01T09:00:00Z"),
    ("1.10.0-rc2", "2023-07-15T09:00:00Z"),
    ("1.10.0", "2023-08-01T09:00:00Z"),
    ("v2", "2024-01-02T09:00:00Z"),
    ("v2.0.1", "2024-02-01T09:00:00Z"),
    ("main", "2024-03-01T09:00:00Z"),
]
VERSION_ALIASES: dict[str, str] = {"latest": "v2.0.1", "sha-1a2b3c4": "main"}


@dataclass
class Content:
    images: dict[str, PushedImage | PushedIndex]
    repositories: list[str]
    emptied_repo: str
    broken_index: PushedIndex
    broken_child_digest: str

    def tags_of(self, repo: str) -> list[str]:
        """The tags pushed to ``repo``, sorted by name."""
        return sorted(k.split(":", 1)[1] for k in self.images if k.split(":", 1)[0] == repo)


def fill_standard(p: Pusher, *, many: int = 35) -> Content:
    images: dict[str, PushedImage | PushedIndex] = {}
    repos: set[str] = set()

    def keep(item: PushedImage | PushedIndex, tag: str | None = None) -> None:
        tag = tag or item.tag
        assert tag is not None
        images[f"{item.repo}:{tag}"] = item
        repos.add(item.repo)

    keep(
        push_image(
            p,
            "schema2/app",
            "1.0",
            oci=False,
            env=["PATH=/usr/local/bin:/usr/bin:/bin", "APP_ENV=production"],
            labels={"org.opencontainers.image.title": "app", "maintainer": "team@example.com"},
            cmd=["/app/server", "--port", "8080"],
            exposed_ports=["8080/tcp"],
            empty_history=2,
            created="2024-04-01T12:00:00Z",
        )
    )

    oci_app = push_image(p, "oci/app", "1.0", created="2024-04-02T12:00:00Z")
    keep(oci_app)
    tag_existing(p, "oci/app", "latest", oci_app)
    keep(oci_app, "latest")

    repo = "multi/oci-index"
    children = [
        push_image(p, repo, None, architecture="amd64", created="2024-05-01T10:00:00Z"),
        push_image(
            p, repo, None, architecture="arm64", variant="v8", created="2024-05-01T10:30:00Z"
        ),
        push_image(p, repo, None, architecture="arm", variant="v7", created="2024-05-01T10:10:00Z"),
    ]
    index = push_index(p, repo, "1.0.0", children)
    keep(index)
    tag_existing(p, repo, "latest", index)
    keep(index, "latest")

    repo = "multi/docker-list"
    children = [
        push_image(p, repo, None, oci=False, architecture="amd64"),
        push_image(p, repo, None, oci=False, architecture="arm64", variant="v8"),
    ]
    keep(push_index(p, repo, "1.0", children, oci=False))

    repo = "multi/attested"
    children = [
        push_image(p, repo, None, architecture="amd64", created="2024-05-02T08:00:00Z"),
        push_image(
            p, repo, None, architecture="arm64", variant="v8", created="2024-05-02T08:05:00Z"
        ),
    ]
    keep(push_index(p, repo, "1.0", children, attest=True))

    keep(push_image(p, "team/app/api", "v1.2.3", created="2024-03-10T08:00:00Z"))
    keep(push_image(p, "team/app/web", "1.0", created="2024-03-11T08:00:00Z"))

    by_tag: dict[str, PushedImage] = {}
    for tag, created in VERSION_TAGS:
        by_tag[tag] = push_image(
            p,
            "versions/app",
            tag,
            created=created,
            labels={"org.opencontainers.image.version": tag},
            n_layers=1,
        )
        keep(by_tag[tag])
    for alias, target in VERSION_ALIASES.items():
        tag_existing(p, "versions/app", alias, by_tag[target])
        keep(by_tag[target], alias)

    keep(
        push_artifact(
            p,
            "artifacts/helm-chart",
            "15.0.2",
            annotations={
                "org.opencontainers.image.title": "helm-chart",
                "org.opencontainers.image.version": "15.0.2",
                "org.opencontainers.image.description": "A chart for tests",
            },
        )
    )

    emptied = "emptied/repo"
    for tag in ("a", "b"):
        image = push_image(p, emptied, tag, n_layers=1)
        p.delete_manifest(emptied, image.digest)
    repos.add(emptied)

    repo = "broken/index"
    children = [
        push_image(p, repo, None, architecture="amd64", n_layers=1),
        push_image(p, repo, None, architecture="arm64", variant="v8", n_layers=1),
    ]
    broken = push_index(p, repo, "1.0", children)
    p.delete_manifest(repo, children[1].digest)
    keep(broken)

    for i in range(many):
        repo = f"many/repo-{i:03d}"
        created = f"2024-01-{1 + i % 28:02d}T00:00:00Z"
        image = push_image(p, repo, "1.0", n_layers=1, empty_history=0, created=created)
        keep(image)
        if i % 5 == 0:
            tag_existing(p, repo, "latest", image)
            keep(image, "latest")

    return Content(
        images=images,
        repositories=sorted(repos),
        emptied_repo=emptied,
        broken_index=broken,
        broken_child_digest=children[1].digest,
    )
