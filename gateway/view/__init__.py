"""The cached registry view: the one layer between the services and the registry.

It owns every read (per-caller access, a two-level store in process and in Redis,
coalescing), every write (which drops what it made stale itself) and every
invalidation (notifications, writes, other replicas, logouts); whatever keeps data
derived from it subscribes to its changes. ``docs/architecture.md`` shows how a new
feature plugs in.
"""

from gateway.view.changes import Change, Subscriber
from gateway.view.registry_view import CachedRegistry

__all__ = ["CachedRegistry", "Change", "Subscriber"]
