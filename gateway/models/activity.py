"""What the SPA receives from the activity log (API.md, third round: Activity). Part of
the OpenAPI document, like ``models.api``; the engine builds the same shapes as dicts
(``gateway.activity``), validated against these on the way out."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Api(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActivityClient(_Api):
    addr: str | None = Field(description="The client's address, as the registry or gateway saw it.")
    user_agent: str | None = Field(
        description="The client's User-Agent (a gateway's is cut to light-registry/<version>)."
    )


class ActivityEvent(_Api):
    id: str = Field(description="The notification's event id, or one the gateway made.")
    time: str = Field(description="When it happened, RFC 3339 in UTC.")
    action: Literal["push", "pull", "delete"] = Field(
        description="push, pull (a manifest GET by a client) or delete."
    )
    repository: str = Field(description="The repository.")
    tag: str | None = Field(description="The tag, when the event names one.")
    digest: str | None = Field(description="The manifest's digest, when the event names one.")
    media_type: str | None = Field(description="The manifest's media type, when known.")
    actor: str | None = Field(description="Who: the registry's user, or the gateway's caller.")
    via: Literal["registry", "gateway"] = Field(
        description="registry: a notification; gateway: made through the gateway (the "
        "caller as actor, the client's address and user agent)."
    )
    client: ActivityClient = Field(description="Where the request came from.")


class ActivityPage(_Api):
    """A page of the activity feed, newest first, of repositories the caller may pull."""

    events: list[ActivityEvent] = Field(description="Newest first.")
    next: str | None = Field(
        description="Pass as last for the next page; null when nothing is left. A short page "
        "(even an empty one) with a next means more may follow: one page looks at no more "
        "than 10,000 records."
    )
    tracking_since: str = Field(description="When recording began (RFC 3339).")


class StaleTagRow(_Api):
    repository: str = Field(description="The repository.")
    tag: str = Field(description="The tag.")
    digest: str | None = Field(description="The digest it points at.")
    last_pulled: str | None = Field(description="Its image's latest pull; null: none recorded.")
    last_pushed: str | None = Field(description="The tag's latest push; null: none recorded.")
    exclusive_bytes: int | None = Field(
        description="What deleting only this tag would free (the usage figures)."
    )


class StalePage(_Api):
    """Tags whose image was not pulled in the period (never pulled since tracking_since
    counts as not pulled; a tag pushed within the period is too new to be listed)."""

    tracking_since: str = Field(description="When recording began (RFC 3339).")
    tags: list[StaleTagRow] = Field(description="In repository, then tag order.")
    next: str | None = Field(
        description="Pass it as last for the next page (repository:tag of this page's last "
        "row, or repository:~ after a repository); null on the last page. One page reads "
        "at most 100 repositories: a short page (even an empty one) with a next means more "
        "may follow."
    )
