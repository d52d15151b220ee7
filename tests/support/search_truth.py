"""Expected search answers, computed from what the corpus was built from.

Independent of ``gateway.search``: no parsing of the documents, no SQL. Each tag of
each repository is expanded into what its image is, contains and uses — from the
``Image``/``Index`` records the builder kept — and every expansion that matches the
query becomes a row ``(repository, tag, digest, platform, kind, value)``, sorted the way
the API pages them. The rules restated here are the API's (docs/search.md):

- a direct match is ``manifest`` or ``index``, with the image's platform (none for an
  index); an index's child or attestation is ``child`` with the child's platform (an
  attestation: the platform of the image it attests); config and layer matches inside an
  index carry the platform of the image they are in;
- labels ``key=value`` (``key`` alone never happens here), case-sensitive;
- tag globs case-insensitive; artifact tags (``sha256-…``) are never results;
- packages per repository (an SBOM in another repository does not count); a CycloneDX
  component with a group is listed as ``group/name`` and as ``name``; names compared
  case-insensitively (ASCII), versions exactly.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterator

from tests.support.search_corpus import Corpus, Image

Row = tuple[str, str, str, str | None, str, str]

#: Searches worth checking over ``build_search_corpus`` (digests are checked one by one).
QUERIES: list[tuple[str, str]] = [
    ("label", "team"),
    ("label", "team=web"),
    ("label", "team=api"),
    ("label", "stage="),
    ("label", "stage"),
    ("label", "org.opencontainers.image.version=1.0"),
    ("label", "TEAM=web"),
    ("label", "nothing=here"),
    ("tag", "*"),
    ("tag", "*-rc*"),
    ("tag", "*-RC?"),
    ("tag", "?.?"),
    ("tag", "v1*"),
    ("tag", "latest"),
    ("tag", "sha256-*"),
    ("tag", "nothing*"),
    ("package", "openssl"),
    ("package", "openssl@3.0.7"),
    ("package", "OpenSSL@3.0.7"),
    ("package", "openssl@3.0.13"),
    ("package", "log4j-core"),
    ("package", "org.apache.logging.log4j/log4j-core@2.14.1"),
    ("package", "@babel/core"),
    ("package", "core@7.24.0"),
    ("package", "jackson-databind"),
    ("package", "base-files"),
    ("package", "busybox@1.36.1"),
    ("package", "musl@1.2.4"),
    ("package", "web@1.1"),
    ("package", "worker"),
    ("package", "nothing"),
]

_ARTIFACT_TAG = re.compile(r"sha256-[0-9a-f]{64}(\.sig|\.att|\.sbom)?")


def _ascii_lower(text: str) -> str:
    return text.translate({c: c + 32 for c in range(ord("A"), ord("Z") + 1)})


def _packages(corpus: Corpus, repo: str, subject: str) -> set[str]:
    out: set[str] = set()
    for sbom in corpus.sboms.get(repo, []):
        if sbom.subject != subject:
            continue
        for name, version, group in sbom.packages:
            names = [f"{group}/{name}", name] if group else [name]
            out.update(f"{n}@{version}" if version else n for n in names)
    return out


def _image_facts(
    corpus: Corpus, repo: str, image: Image, platform: str | None
) -> Iterator[tuple[str | None, str, str]]:
    """(platform, kind, value) of what an image holds: config, layers, labels, packages."""
    yield platform, "config", image.config_digest
    for layer in image.layers:
        yield platform, "layer", layer
    for key, value in image.labels.items():
        yield platform, "label", f"{key}={value}"
    for package in _packages(corpus, repo, image.digest):
        yield platform, "package", package


def expand(corpus: Corpus, repo: str, digest: str) -> Iterator[tuple[str | None, str, str]]:
    """Everything a tag pointing at ``digest`` in ``repo`` can be found by."""
    index = corpus.indexes.get(digest)
    if index is None:
        image = corpus.images[digest]
        yield image.platform, "manifest", digest
        yield from _image_facts(corpus, repo, image, image.platform)
        return
    yield None, "index", digest
    for package in _packages(corpus, repo, digest):
        yield None, "package", package
    platforms = {c.digest: c.platform for c in index.children}
    for child in index.children:
        yield child.platform, "child", child.digest
        yield from _image_facts(corpus, repo, child, child.platform)
    for att in index.attestations:
        platform = platforms[att.attests or ""]
        yield platform, "child", att.digest
        yield platform, "config", att.config_digest
        for layer in att.layers:
            yield platform, "layer", layer


def expected(
    corpus: Corpus,
    kind: str,
    text: str,
    visible: Callable[[str], bool] = lambda _: True,
) -> list[Row]:
    """Every result of one search, in page order."""
    rows: set[Row] = set()
    for repo, tags in corpus.tags.items():
        if not visible(repo):
            continue
        for tag, digest in tags.items():
            if _ARTIFACT_TAG.fullmatch(tag):
                continue
            if kind == "tag":
                if fnmatch.fnmatchcase(_ascii_lower(tag), _ascii_lower(text)):
                    rows.add((repo, tag, digest, None, "tag", tag))
                continue
            for platform, found, value in expand(corpus, repo, digest):
                if _matches(kind, text, found, value):
                    rows.add((repo, tag, digest, platform, found, value))
    return sorted(rows, key=lambda r: (r[0], r[1], r[3] or "", r[4], r[5]))


def _matches(kind: str, text: str, found: str, value: str) -> bool:
    if kind == "digest":
        wanted = text.lower().removeprefix("sha256:")
        is_digest = found in ("manifest", "index", "child", "config", "layer")
        return is_digest and value.removeprefix("sha256:").startswith(wanted)
    if kind == "label":
        if found != "label":
            return False
        key, sep, val = text.partition("=")
        have_key, _, have_value = value.partition("=")
        return have_key == key and (not sep or have_value == val)
    if kind == "package":
        if found != "package":
            return False
        at = text.rfind("@")
        name, version = (text[:at], text[at + 1 :]) if at > 0 else (text, None)
        have_at = value.rfind("@")
        have_name, have_version = (
            (value[:have_at], value[have_at + 1 :]) if have_at > 0 else (value, "")
        )
        same_name = _ascii_lower(have_name) == _ascii_lower(name)
        return same_name and (version is None or have_version == version)
    raise ValueError(kind)
