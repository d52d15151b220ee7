"""Activity: who pushed, who pulled, what nobody uses.

The registry notifies the gateway of every push, pull and delete (``POST /api/events``);
the gateway records them, with the writes (and ``/v2`` pulls) made through it, and
answers the activity feed, ``last_pulled``/``last_pushed`` of tag rows, the stale report
and retention's ``not_pulled_days`` rule. See docs/activity.md for what is kept.

- ``records``: the record, its cursor, marks, times (µs integers inside, RFC 3339 out);
- ``agent``: the gateway's own ``User-Agent`` upstream, and the rules that read it back
  (a gateway's reads are never pulls; the echo of its own writes is not recorded twice);
- ``placeholder``: the 2.x tag-delete placeholder, built so its events are recognised;
- ``classify``: one notification event → a record or a reason to skip it (pure);
- ``store``: the interface of the two stores, ``sqlite_store`` (default, ``LR_DATA_DIR``)
  and ``redis_store`` (``LR_REDIS_URL``, shared by replicas; Lua in ``redis_scripts``);
- ``paging``: feed and stale-report pages under the caller's rights;
- ``engine``: ``Activity``, what the gateway holds: recording never raises, decorating
  reads never raise, the activity's own answers raise ``ActivityUnavailable``.

This package knows nothing of HTTP or FastAPI, and nothing of the registry client: the
caller's rights come in as a set or a predicate, tag rows as an iterable.
"""

from gateway.activity.engine import Activity
from gateway.activity.paging import FeedPage, StalePage, StaleTag, TagRow
from gateway.activity.records import ActivityUnavailable, Mark, MarkKey, Marks, Pulled, Record

__all__ = [
    "Activity",
    "ActivityUnavailable",
    "FeedPage",
    "Mark",
    "MarkKey",
    "Marks",
    "Pulled",
    "Record",
    "StalePage",
    "StaleTag",
    "TagRow",
]
