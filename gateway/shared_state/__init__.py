"""State shared by several replicas through Redis (``LR_REDIS_URL``).

Unset, nothing here is used: every store is the in-process one. Set:

- ``keys``: ``LR_SECRET_KEY`` parsed, values holding secrets sealed with AES-GCM, key
  names that would hold a credential, a token, a caller key or a session id hashed;
- ``store``: the Redis client (a bounded pool, every call bounded by
  ``LR_REDIS_TIMEOUT``), every failure one error type, ``SharedStoreUnavailable``;
- ``sessions``: login sessions with Redis as the source of truth.
"""
