"""Rights on a token registry: a caller sees only the events and dates of repositories
the registry lets it pull (the view's rule), whoever's reads recorded them.

The token world (``tests.support.token_world``): ``admin`` may pull everything,
``reader`` only ``team/*``, anonymous only ``public/*``. Notifications name all three
repositories; each caller's feed and tag rows hold only its own.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import gateway_for
from tests.support.assertions import assert_envelope
from tests.support.token_world import World, basic
from tests.support.token_world import world as world
from tests.test_activity_answers import TOKEN, event, notify, wait_listed


def ids(client: Any, headers: dict[str, str], **params: Any) -> set[str]:
    r = client.get("/api/activity", params={"n": 1000, **params}, headers=headers)
    assert r.status_code == 200, r.text
    return {e["id"] for e in r.json()["events"]}


def test_each_caller_sees_the_activity_of_what_it_may_pull(world: World) -> None:
    team = event("pull", "team/app", world.team.digest, tag="1.0", event_id="rights-team")
    public = event("pull", "public/base", world.public.digest, tag="1.0", event_id="rights-pub")
    secret = event("push", "secret/vault", world.secret.digest, tag="1.0", event_id="rights-sec")
    with gateway_for(world.url, events_token=TOKEN) as client:
        notify(client, team, public, secret)
        admin = basic("admin")
        reader = basic("reader")
        wait_listed_as = {"rights-team", "rights-pub", "rights-sec"}
        # the admin's view is the whole feed
        client.headers.update(admin)
        wait_listed(client, wait_listed_as)
        client.headers.pop("Authorization")

        assert ids(client, reader) == {"rights-team"}
        assert ids(client, {}) == {"rights-pub"}  # anonymous
        assert ids(client, reader, repository="secret/vault") == set()
        assert ids(client, reader, actor="alice") == {"rights-team"}

        # dates on rows: only where the caller may read the rows at all
        r = client.get(
            "/api/repositories/team/app/tags", params={"details": "true"}, headers=reader
        )
        assert r.json()["tags"][0]["last_pulled"] is not None
        r = client.get("/api/repositories/secret/vault/tags", headers=reader)
        assert r.status_code in (401, 403, 404)
        assert_envelope(r, r.status_code)
        # the stale report: of a repository the caller may pull, else refused as the
        # registry refuses it (the reader has no catalog: as /api/repositories answers)
        r = client.get("/api/stale", params={"days": 1, "repository": "team/app"}, headers=reader)
        assert r.status_code == 200, r.text
        assert {t["repository"] for t in r.json()["tags"]} <= {"team/app"}
        denied = client.get("/api/stale", params={"repository": "secret/vault"}, headers=reader)
        assert denied.status_code in (401, 403, 404)
        catalog = client.get("/api/repositories", headers=reader).status_code
        assert client.get("/api/stale", headers=reader).status_code == catalog
        r = client.get("/api/stale", params={"days": 1}, headers=admin)
        assert r.status_code == 200 and r.json()["tags"] == []  # each pulled or pushed now
