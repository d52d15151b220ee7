"""The aggregation the SPA needs, over a cached, per-caller view of the registry."""
