"""State shared by several replicas through Redis (``LR_REDIS_URL``).

Unset, nothing here is used: every store is the in-process one. Set:

- ``keys``: ``LR_SECRET_KEY`` parsed, values holding secrets sealed with AES-GCM, key
  names that would hold a credential, a token, a caller key or a session id hashed;
- ``store``: the Redis client (a bounded pool, every call bounded by
  ``LR_REDIS_TIMEOUT``), every failure one error type, ``SharedStoreUnavailable``;
- ``sessions``: login sessions with Redis as the source of truth;
- ``tokens``: registry tokens, the second level of ``TokenCache``;
- ``caches``: the second level of the cached registry's stores (lists, pointers,
  access, membership, content by digest), invalidation across replicas (generations
  and pub/sub) and the lock that coalesces cold fetches across replicas.
"""
