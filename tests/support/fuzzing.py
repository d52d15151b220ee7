"""The machinery of the API fuzzing (tests/test_fuzz_api.py): schemathesis cases from the
committed OpenAPI document, mixed with cases aimed at real content, sent to a gateway
served on 127.0.0.1, and checked.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from harness.images import PushedImage, PushedIndex
from harness.registry import free_port
from harness.waiting import eventually
from tests.support.callers import XHR, basic_value
from tests.support.gateway_server import GatewayServer

DOCUMENT = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
EVENTS_TOKEN = "fuzz-events-7c1e"
UPSTREAM_CODES = {
    "UPSTREAM_UNAVAILABLE",
    "UPSTREAM_TIMEOUT",
    "UPSTREAM_INVALID",
    "REALM_NOT_ALLOWED",
}
SCALE = float(os.environ.get("LR_FUZZ_SCALE", "1"))

Images = dict[str, PushedImage | PushedIndex]  # "repo:tag" -> what was pushed


@cache
def document() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    return doc


@cache
def schema() -> Any:
    # An explicit config: no schemathesis.toml from the working directory applies.
    return schemathesis.openapi.from_dict(document(), config=schemathesis.Config())


def labels() -> set[str]:
    return {f"{m.upper()} {path}" for path, item in document()["paths"].items() for m in item}


@cache
def _error_codes() -> dict[tuple[str, int], list[str]]:
    """(operation label, status) -> the ``error.code`` values the document lists."""
    out: dict[tuple[str, int], list[str]] = {}
    for path, item in document()["paths"].items():
        for method, op in item.items():
            for status, response in op["responses"].items():
                if "x-error-codes" in response:
                    out[(f"{method.upper()} {path}", int(status))] = response["x-error-codes"]
    return out


# -- checks ---------------------------------------------------------------------------


def _json(response: Any) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def not_a_server_error(ctx: Any, response: Any, case: Any) -> None:
    """No 5xx but a documented upstream answer (502/503/504 with an upstream code)."""
    if response.status_code < 500:
        return
    body = _json(response)
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    assert response.status_code in (502, 503, 504) and code in UPSTREAM_CODES, (
        f"server error {response.status_code} ({code})"
    )


def error_envelope(ctx: Any, response: Any, case: Any) -> None:
    """Every 4xx/5xx is JSON, exactly ``{"error": {"code", "message", "detail"}}``, with a
    code the document lists for this operation and status; a 401 never asks for Basic."""
    status = response.status_code
    if status < 400:
        return
    content_type = (response.headers.get("content-type") or [""])[0]
    assert content_type.split(";")[0].strip() == "application/json", (
        f"{status} with Content-Type {content_type!r}"
    )
    body = _json(response)
    assert isinstance(body, dict) and set(body) == {"error"}, f"not the envelope: {body!r}"
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message", "detail"}, body
    assert isinstance(error["code"], str) and error["code"], body
    assert isinstance(error["message"], str) and error["message"], body
    documented = _error_codes().get((case.operation.label, status))
    assert documented is None or error["code"] in documented, (
        f"{status} {error['code']} is not among the documented {documented}"
    )
    if status == 401:
        challenges = response.headers.get("www-authenticate") or []
        assert not any(c.lower().startswith("basic") for c in challenges), challenges


def logged_in_as_a_registry_user(users: dict[str, str]) -> Callable[..., None]:
    """A session is only ever for a user the registry has, under that user's name."""

    def check(ctx: Any, response: Any, case: Any) -> None:
        label = case.operation.label
        if response.status_code != 200 or label not in ("POST /api/session", "GET /api/session"):
            return
        username = _json(response).get("username")
        assert username is None or username in users, f"logged in as {username!r}"

    return check


CHECKS: list[Callable[..., Any]] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    error_envelope,
]


# -- what the registries hold, as inputs ------------------------------------------------


@dataclass
class Known:
    """Real inputs: the fixed parts of cases aimed at real content."""

    names: list[str] = field(default_factory=list)
    refs: list[tuple[str, str]] = field(default_factory=list)  # (repo, tag or digest)
    tags: list[tuple[str, str]] = field(default_factory=list)  # (repo, tag)
    manifests: list[tuple[str, str]] = field(default_factory=list)  # (repo, digest)
    blobs: list[tuple[str, str]] = field(default_factory=list)  # (repo, blob digest)
    platforms: list[tuple[str, str, str]] = field(default_factory=list)  # (repo, tag, os/arch)

    @classmethod
    def of(cls, images: Images) -> Known:
        known = cls()
        for key, item in images.items():
            known._add(item, key.split(":", 1)[1])
        for name in ("names", "refs", "tags", "manifests", "blobs", "platforms"):
            setattr(known, name, list(dict.fromkeys(getattr(known, name))))
        return known

    def _add(self, item: PushedImage | PushedIndex, tag: str) -> None:
        repo = item.repo
        self.names.append(repo)
        self.tags.append((repo, tag))
        self.refs += [(repo, tag), (repo, item.digest)]
        self.manifests.append((repo, item.digest))
        children = [item] if isinstance(item, PushedImage) else item.children + item.attestations
        for child in children:
            self.refs.append((repo, child.digest))
            self.manifests.append((repo, child.digest))
            self.blobs.append((repo, child.config_digest))
            self.blobs += [(repo, digest) for digest, _, _ in child.layers[:2]]
        if isinstance(item, PushedIndex):
            self.platforms += [(repo, tag, child.platform) for child in item.children]


def _path(**values: str) -> dict[str, Any]:
    return {"path_parameters": values}


def _etag(digest: str) -> dict[str, str]:
    return {"If-None-Match": f'"{digest}"'}


def _repositories(k: Known, logins: dict[str, str]) -> list[dict[str, Any]]:
    return (
        [{"query": {"q": name.split("/")[0][:4]}} for name in k.names[:8]]
        + [{"query": {"last": name, "n": 3}} for name in k.names[::4]]
        + [{"query": {"q": "REPO-01"}}, {"query": {"n": 1000}}]
    )


def _tags(k: Known, logins: dict[str, str]) -> list[dict[str, Any]]:
    out = [_path(name=n) for n in k.names]
    for repo, tag in k.tags[::3]:
        out.append({**_path(name=repo), "query": {"last": tag, "n": 2}})
        out.append({**_path(name=repo), "query": {"q": tag[:2].upper()}})
    sorts = ("-version", "created", "version", "-created")
    out += [
        {**_path(name=n), "query": {"details": True, "sort": s}} for n in k.names for s in sorts
    ]
    return out


def _images(k: Known, logins: dict[str, str]) -> list[dict[str, Any]]:
    return [_path(name=r, reference=ref) for r, ref in k.refs]


def _manifests(k: Known, logins: dict[str, str]) -> list[dict[str, Any]]:
    return _images(k, logins) + [
        {**_path(name=r, reference=d), "headers": _etag(d)} for r, d in k.manifests
    ]


def _config(k: Known, logins: dict[str, str]) -> list[dict[str, Any]]:
    return _images(k, logins) + [
        {**_path(name=r, reference=tag), "query": {"platform": p}} for r, tag, p in k.platforms
    ]


def _referrers(k: Known, logins: dict[str, str]) -> list[dict[str, Any]]:
    types = ("application/spdx+json", "application/vnd.cncf.notary.signature")
    return _config(k, logins) + [
        {**_path(name=r, reference=ref), "query": {"artifact_type": types[i % 2]}}
        for i, (r, ref) in enumerate(k.refs[::3])
    ]


def _blobs(k: Known, logins: dict[str, str]) -> list[dict[str, Any]]:
    return [_path(name=r, digest=d) for r, d in k.blobs] + [
        {**_path(name=r, digest=d), "headers": _etag(d)} for r, d in k.blobs[::4]
    ]


def _delete_image(k: Known, logins: dict[str, str]) -> list[dict[str, Any]]:
    return [_path(name=r, digest=d) for r, d in k.manifests]


def _delete_tag(k: Known, logins: dict[str, str]) -> list[dict[str, Any]]:
    return [_path(name=r, tag=t) for r, t in k.tags]


def _login(k: Known, logins: dict[str, str]) -> list[dict[str, Any]]:
    as_json = {"headers": XHR, "media_type": "application/json"}
    right = [{**as_json, "body": {"username": u, "password": p}} for u, p in logins.items()]
    wrong = [{**as_json, "body": {"username": u, "password": p[:-1]}} for u, p in logins.items()]
    # The user-id and password split at another colon: the same Basic header.
    shifted = [
        {**as_json, "body": {"username": f"{u}:{p.split(':')[0]}", "password": p.split(":", 1)[1]}}
        for u, p in logins.items()
        if ":" in p
    ]
    return right * 2 + wrong + shifted + [{"headers": XHR}]


def _session(k: Known, logins: dict[str, str]) -> list[dict[str, Any]]:
    return [{"headers": XHR}]


def _events(k: Known, logins: dict[str, str]) -> list[dict[str, Any]]:
    bearer = {"Authorization": f"Bearer {EVENTS_TOKEN}"}
    kinds = ("application/json", "application/vnd.docker.distribution.events.v1+json")
    events = [
        {"action": action, "target": {"repository": repo, "tag": tag, "mediaType": None}}
        for action in ("push", "delete", "pull", "mount")
        for repo, tag in k.tags[::5]
    ]
    return [{"headers": bearer}] + [
        {"headers": bearer, "media_type": kinds[i % 2], "body": {"events": events[i : i + 3]}}
        for i in range(0, len(events), 3)
    ]


def _usage(k: Known, logins: dict[str, str]) -> list[dict[str, Any]]:
    return [_path(name=n) for n in k.names]


def _registry_usage(k: Known, logins: dict[str, str]) -> list[dict[str, Any]]:
    return [{}]  # no parameter: with a real login (below), the registry's figures


RULES = (
    {"keep_last": 2, "sort": "version"},
    {"keep_last": 1, "sort": "created", "keep_regex": "^(latest|stable)$"},
    {"older_than_days": 30, "match_regex": "^v?1"},
)


def _retention(k: Known, logins: dict[str, str]) -> list[dict[str, Any]]:
    as_json = {"headers": XHR, "media_type": "application/json"}
    return [{**as_json, **_path(name=n), "body": rules} for n in k.names for rules in RULES]


def _bulk_delete(k: Known, logins: dict[str, str]) -> list[dict[str, Any]]:
    as_json = {"headers": XHR, "media_type": "application/json"}
    return [{**as_json, **_path(name=r), "body": {"tags": [t]}} for r, t in k.tags] + [
        {**as_json, **_path(name=r), "body": {"digests": [d]}} for r, d in k.manifests
    ]


REAL: dict[str, Callable[[Known, dict[str, str]], list[dict[str, Any]]]] = {
    "GET /api/repositories": _repositories,
    "GET /api/repositories/{name}/tags": _tags,
    "GET /api/repositories/{name}/images/{reference}": _images,
    "GET /api/repositories/{name}/images/{reference}/config": _config,
    "GET /api/repositories/{name}/images/{reference}/referrers": _referrers,
    "GET /api/repositories/{name}/manifests/{reference}": _manifests,
    "GET /api/repositories/{name}/blobs/{digest}": _blobs,
    "DELETE /api/repositories/{name}/images/{digest}": _delete_image,
    "DELETE /api/repositories/{name}/tags/{tag}": _delete_tag,
    "POST /api/session": _login,
    "GET /api/session": _session,
    "DELETE /api/session": _session,
    "POST /api/events": _events,
    "GET /api/repositories/{name}/usage": _usage,
    "GET /api/usage": _registry_usage,
    "POST /api/repositories/{name}/retention/preview": _retention,
    "POST /api/repositories/{name}/delete": _bulk_delete,
}


# -- the run --------------------------------------------------------------------------


@dataclass
class Target:
    """One gateway under fuzzing and what it may be asked about."""

    url: str
    known: Known
    logins: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    cases: Counter[str] = field(default_factory=Counter)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    failures: dict[tuple[str, str], str] = field(default_factory=dict)

    def total(self) -> int:
        return sum(self.cases.values())

    def answered(self, label: str, low: int, high: int) -> int:
        return sum(n for status, n in self.statuses[label].items() if low <= status < high)

    def report(self) -> str:
        lines = [f"{len(self.failures)} distinct failures in {self.total()} cases:"]
        lines += [f"--- {label}: {title}\n{text}" for (label, title), text in self.failures.items()]
        return "\n".join(lines)


def _extra_headers(target: Target) -> st.SearchStrategy[dict[str, str]]:
    """Headers the document does not describe but clients send."""
    printable = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40)
    real = [basic_value(u, p) for u, p in target.logins.items()]
    authorization = st.one_of(
        st.sampled_from(real) if real else st.nothing(),
        st.builds(basic_value, printable, printable),
        st.builds("Bearer {}".format, printable),
        printable,
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "X-Request-ID": printable,
            "Authorization": authorization,
            "Cookie": printable.map("lr_session={}".format),
            "If-None-Match": st.one_of(st.just("*"), printable.map('"{}"'.format)),
            "Origin": st.sampled_from([target.url, "http://127.0.0.2:9", "null"]),
            "Accept": st.sampled_from(["application/json", "text/html", "*/*", "image/png"]),
            "X-Requested-With": st.sampled_from(["XMLHttpRequest", "fetch"]),
        },
    )


def _strategy(op: Any, target: Target) -> st.SearchStrategy[Any]:
    generated = [op.as_strategy(GenerationMode.POSITIVE)]
    if op.path_parameters or op.query or op.body:
        generated.append(op.as_strategy(GenerationMode.NEGATIVE))
    fixed = REAL[op.label](target.known, target.logins) if op.label in REAL else []
    if target.logins:  # the same, logged in with Basic
        basic = {"Authorization": basic_value(*next(iter(target.logins.items())))}
        fixed += [{**parts, "headers": {**parts.get("headers", {}), **basic}} for parts in fixed]
    if not fixed:
        return st.one_of(generated)
    real = st.one_of([op.as_strategy(GenerationMode.POSITIVE, **parts) for parts in fixed])
    # As many draws aimed at real content as generated from the schema alone: a choice
    # between strategies (one_of would flatten the real ones into as many branches).
    choices = [*generated, *[real] * len(generated)]
    return st.sampled_from(choices).flatmap(lambda strategy: strategy)


def _run_operation(
    op: Any, target: Target, session: requests.Session, examples: int, outcome: Outcome
) -> None:
    statuses = outcome.statuses.setdefault(op.label, Counter())
    checks = CHECKS + ([logged_in_as_a_registry_user(target.logins)] if target.logins else [])

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_strategy(op, target), extra=_extra_headers(target))
    def run(case: Any, extra: dict[str, str]) -> None:
        headers = {**extra, **(case.headers or {})}
        response = case.call(base_url=target.url, session=session, headers=headers, timeout=30)
        outcome.cases[op.label] += 1
        statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except AssertionError as exc:  # schemathesis' FailureGroup is one too
            title = str(exc).strip().splitlines()[0][:160]
            outcome.failures.setdefault((op.label, title), str(exc)[:4000])

    run()


@contextmanager
def _schema_and_seed_only() -> Iterator[None]:
    """Hypothesis mixes the literals of the project's own modules into what it draws
    (its "local constants"): every message changed anywhere in gateway/ or harness/
    would change the fuzzer's cases. Within this block it draws from the schema, its
    seed and its own constants only, so the same cases come on every run of every
    revision. (Hypothesis has no setting for it: its provider's lookup is replaced.)"""
    from hypothesis.internal.conjecture import providers

    empty = providers.Constants(
        integers=providers.SortedSet(),
        floats=providers.SortedSet(key=providers.float_to_int),
        bytes=providers.SortedSet(),
        strings=providers.SortedSet(),
    )
    lookup, cache = providers._get_local_constants, providers.CONSTANTS_CACHE
    providers._get_local_constants = lambda: empty
    # The constants allowed per kind of draw are cached with the local ones: a cache
    # of its own for the block.
    providers.CONSTANTS_CACHE = type(cache)(1024)
    try:
        yield
    finally:
        providers._get_local_constants, providers.CONSTANTS_CACHE = lookup, cache


def fuzz(target: Target, budget: dict[str, int]) -> Outcome:
    """Run about ``budget[label]`` generated cases on each operation, in order; collect
    every distinct failure (not only the first)."""
    outcome = Outcome()
    with _schema_and_seed_only(), requests.Session() as session:
        session.trust_env = False  # never a proxy from the environment
        for label, examples in budget.items():
            op = schema().find_operation_by_label(label)
            assert op is not None, label
            _run_operation(op, target, session, scaled(examples), outcome)
    return outcome


def scaled(examples: int) -> int:
    return max(1, int(examples * SCALE))


def assert_clean(outcome: Outcome, budget: dict[str, int], *, healthy: bool = True) -> None:
    """No failure, and each operation ran (nearly) its budget of cases. In front of a
    healthy registry even the documented upstream 5xx answers are failures (a gateway
    bug could hide behind an UPSTREAM_INVALID)."""
    assert not outcome.failures, outcome.report()
    for label, examples in budget.items():
        assert outcome.cases[label] >= 0.9 * scaled(examples), (label, outcome.statuses)
        if healthy:
            assert outcome.answered(label, 500, 600) == 0, (label, outcome.statuses)


# -- gateways and registries ------------------------------------------------------------


@contextmanager
def serve_gateway(registry_url: str, *, reachable: bool = True, **settings: Any) -> Iterator[str]:
    server = GatewayServer(
        registry_url, free_port(), events_token=EVENTS_TOKEN, catalog_page_size=10, **settings
    )
    try:
        if reachable:
            server.start()  # waits until /api/health answers 200
        else:
            server.thread.start()
            wait_live(server.url)
        yield server.url
    finally:
        server.stop()


def wait_live(url: str) -> None:
    with requests.Session() as session:
        session.trust_env = False
        eventually(
            lambda: session.get(f"{url}/api/health/live", timeout=2).status_code == 200,
            what="the gateway started",
            retry=(requests.ConnectionError,),
        )
