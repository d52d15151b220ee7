"""Retention's ``not_pulled_days`` rule: a tag the other rules would delete goes only if
the activity log says its image was not pulled for that long.

The engine decides each tag (``Activity.pulled_within``: its digest's last pull, its
tag's last push, when tracking began) and this module turns the verdicts into the
plan's reasons — a rule that deletes keeps whatever the activity cannot vouch for:

- ``pulled recently``: its image (by any tag or by digest) was pulled within the days;
- ``not_pulled_days: pushed recently``: not pulled, but pushed within the days (too new
  to judge);
- ``not_pulled_days: not tracked long enough``: not pulled since recording began, which
  is less than the days ago;
- ``not_pulled_days: activity unavailable``: the store cannot be read now (every tag the
  rule would decide is kept; the preview says so rather than guess).

Only a tag tracked for the whole period and not pulled in it may go.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from gateway.activity import MarkKey, Pulled
from gateway.activity.records import ActivityUnavailable

#: ``Activity.pulled_within``: each tag's verdict over ``days`` days (raises
#: ``ActivityUnavailable``).
PulledWithin = Callable[[Sequence[MarkKey], float], Awaitable[list[Pulled]]]

REASONS: dict[Pulled, str] = {
    Pulled.RECENTLY: "pulled recently",
    Pulled.PUSHED: "not_pulled_days: pushed recently",
    Pulled.UNKNOWN: "not_pulled_days: not tracked long enough",
}
UNAVAILABLE = "not_pulled_days: activity unavailable"


async def kept_by_pulls(
    pulled_within: PulledWithin | None,
    repo: str,
    candidates: Sequence[str],
    digests: Mapping[str, str],
    days: float,
) -> dict[str, str]:
    """Of the tags the other rules would delete, those this rule keeps (tag -> reason)."""
    if not candidates:
        return {}
    if pulled_within is None:
        return dict.fromkeys(candidates, UNAVAILABLE)
    keys = [MarkKey(repo, tag, digests.get(tag)) for tag in candidates]
    try:
        verdicts = await pulled_within(keys, days)
    except ActivityUnavailable:
        return dict.fromkeys(candidates, UNAVAILABLE)
    return {
        tag: REASONS.get(verdict, UNAVAILABLE)
        for tag, verdict in zip(candidates, verdicts, strict=True)
        if verdict.keeps
    }
