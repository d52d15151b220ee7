"""Replicas sharing state through Redis: warm cost, cold upstream load, propagation.

    python bench/bench_replicas.py [--repos 20] [--tags 4] [--seconds 3] [--rounds 10]
                                   [--out bench/results/replicas-latest.md]

Needs /usr/bin/docker-registry and /usr/bin/redis-server; 127.0.0.1 only. It starts a
real registry (filled over the v2 API), a real Redis (no persistence) and gateways as
``python -m gateway`` processes, then measures, each against a baseline of the same run:

1. **Warm**: the same warm pages (every repository's tag page with details and image
   detail) asked in a loop of one gateway without Redis and of one with it, three
   alternating rounds of ``--seconds``/3 each: the median requests per second and
   their ratio. Redis' own count of commands
   processed (``INFO stats``) during the Redis gateway's warm loop must not move: an
   in-process hit never touches Redis.
2. **Cold**: every page asked once of each of two fresh replicas (what users spread by
   a load balancer do), with Redis and without, against one fresh replica asked once:
   upstream requests (each gateway's ``lr_upstream_requests_total``), and their ratio
   to the one replica's.
3. **Propagation**: replica B has a tag list cached; a tag is pushed and its
   notification posted to replica A; the time until B's answer shows the tag (polled
   every 5 ms), over ``--rounds`` rounds.

Targets: warm ratio >= 0.8 and 0 Redis commands during the warm loop; two replicas cold
with Redis <= 1.25x the upstream requests of one; every propagation under 1 s.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


from bench.report import git_describe, verdict, write_report  # noqa: E402
from harness.images import Pusher, push_image  # noqa: E402
from harness.redis_server import RedisProcess  # noqa: E402
from harness.registry import RegistryProcess, start_registry  # noqa: E402
from harness.replicas import Replica, start_replica  # noqa: E402

EVENTS_TOKEN = "bench-events-" + secrets.token_hex(4)
EVENT_TYPE = "application/vnd.docker.distribution.events.v1+json"
WARM_ROUNDS = 3


def fill(registry: RegistryProcess, repos: int, tags: int) -> list[str]:
    """Push the repositories; answer the pages a UI asks for them."""
    pages = []
    with Pusher(registry.url) as p:
        for r in range(repos):
            repo = f"bench/app-{r}"
            for t in range(tags):
                push_image(p, repo, f"1.{t}", created=f"2024-05-{t + 1:02d}T10:00:00Z")
            pages.append(f"/api/repositories/{repo}/tags?details=true")
            pages.append(f"/api/repositories/{repo}/images/1.0")
    return ["/api/repositories?n=100", *pages]


def ask_all(replica: Replica, pages: list[str], workers: int = 4) -> None:
    with replica.client() as c, ThreadPoolExecutor(workers) as pool:
        for r in pool.map(c.get, pages):
            assert r.status_code == 200, (r.request.url, r.status_code, r.text[:200])


def upstream_total(replica: Replica) -> int:
    return sum(replica.upstream().values())


def redis_commands(redis: RedisProcess) -> int:
    return int(redis.client().info("stats")["total_commands_processed"])


def warm_rate(replica: Replica, pages: list[str], seconds: float) -> float:
    ask_all(replica, pages)  # warm
    ask_all(replica, pages)
    done = 0
    with replica.client() as c:
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            for page in pages:
                assert c.get(page).status_code == 200
            done += len(pages)
        elapsed = time.perf_counter() - start
    return done / elapsed


def propagation(a: Replica, b: Replica, registry: RegistryProcess, rounds: int) -> list[float]:
    times = []
    repo = "bench/events"
    with Pusher(registry.url) as p:
        push_image(p, repo, "0")
    with b.client() as cb, a.client() as ca, Pusher(registry.url) as p:
        for i in range(1, rounds + 1):
            page = f"/api/repositories/{repo}/tags"
            assert cb.get(page).status_code == 200  # cached on B
            pushed = push_image(p, repo, str(i))
            target = {"repository": repo, "tag": str(i), "digest": pushed.digest}
            body = json.dumps({"events": [{"action": "push", "target": target}]})
            headers = {"Authorization": f"Bearer {EVENTS_TOKEN}", "Content-Type": EVENT_TYPE}
            start = time.perf_counter()
            assert ca.post("/api/events", content=body, headers=headers).is_success
            while True:
                names = [t["name"] for t in cb.get(page).json()["tags"]]
                if str(i) in names:
                    break
                if time.perf_counter() - start > 5:
                    raise AssertionError(f"round {i}: B never showed the tag")
                time.sleep(0.005)
            times.append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, default=20, help="repositories to push (20)")
    parser.add_argument("--tags", type=int, default=4, help="tags per repository (4)")
    parser.add_argument("--seconds", type=float, default=3.0, help="each warm loop (3 s)")
    parser.add_argument("--rounds", type=int, default=10, help="propagation rounds (10)")
    parser.add_argument("--out", default="bench/results/replicas-latest.md")
    parser.add_argument("--fail-on-miss", action="store_true")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="lr-bench-replicas-") as tmp:
        root = Path(tmp)
        (root / "registry").mkdir()
        (root / "redis").mkdir()
        registry = start_registry(root / "registry", version="2.8")
        redis = RedisProcess(root / "redis").start()
        started: list[Replica] = []

        def replica(**env: str) -> Replica:
            settings = {
                "LR_REGISTRY_URL": registry.url,
                "LR_CACHE_TTL": "300",
                "LR_ACCESS_TTL": "300",
                "LR_EVENTS_TOKEN": EVENTS_TOKEN,
                "LR_LOG_LEVEL": "warning",
                **env,
            }
            started.append(start_replica(root, settings))
            return started[-1]

        try:
            print(f"filling {args.repos} repositories x {args.tags} tags ...", flush=True)
            pages = fill(registry, args.repos, args.tags)
            key = secrets.token_hex(32)
            shared = {"LR_REDIS_URL": redis.url, "LR_SECRET_KEY": key}

            print("warm ...", flush=True)
            local, with_redis = replica(), replica(**shared)
            local_rates, redis_rates, warm_commands = [], [], 0
            for _ in range(WARM_ROUNDS):  # alternating, so both see the same load
                local_rates.append(warm_rate(local, pages, args.seconds / WARM_ROUNDS))
                ask_all(with_redis, pages)
                ask_all(with_redis, pages)
                before = redis_commands(redis)
                idle = redis_commands(redis) - before  # INFO itself
                before = redis_commands(redis)
                redis_rates.append(warm_rate(with_redis, pages, args.seconds / WARM_ROUNDS))
                warm_commands += redis_commands(redis) - before - idle
            local_rate = statistics.median(local_rates)
            redis_rate = statistics.median(redis_rates)

            print("cold ...", flush=True)
            redis.client().flushall()
            one = replica(**shared)
            ask_all(one, pages)
            cold_one = upstream_total(one)
            redis.client().flushall()
            pair = [replica(**shared), replica(**shared)]
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(lambda r: ask_all(r, pages), pair))
            cold_two = sum(upstream_total(r) for r in pair)
            stored = redis.client()
            redis_keys, redis_bytes = stored.dbsize(), stored.info("memory")["used_memory"]
            apart = [replica(), replica()]
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(lambda r: ask_all(r, pages), apart))
            cold_apart = sum(upstream_total(r) for r in apart)

            print("propagation ...", flush=True)
            times = propagation(pair[0], pair[1], registry, args.rounds)
        finally:
            for r in started:
                r.stop()
            redis.stop()
            registry.stop()

    ratio = redis_rate / local_rate
    cold_ratio = cold_two / cold_one
    ms = [t * 1000 for t in times]
    checks = {
        "warm ratio >= 0.8": ratio >= 0.8,
        "0 Redis commands in the warm loop": warm_commands == 0,
        "two cold replicas <= 1.25x one": cold_ratio <= 1.25,
        "every propagation < 1 s": max(ms) < 1000,
    }
    lines = [
        "# Replicas sharing state through Redis",
        "",
        f"commit {git_describe()}; {args.repos} repositories x {args.tags} tags, "
        f"{len(pages)} pages",
        "",
        "| measure | baseline | with Redis | ratio | target |",
        "|---|---|---|---|---|",
        f"| warm pages/s (one gateway) | {local_rate:.0f} (in-process) | {redis_rate:.0f} | "
        f"{ratio:.2f}x | {verdict(checks['warm ratio >= 0.8'])} |",
        f"| Redis commands during the warm loop | - | {warm_commands} | - | "
        f"{verdict(checks['0 Redis commands in the warm loop'])} |",
        f"| upstream requests, every page once per replica | {cold_one} (one replica) | "
        f"{cold_two} (two replicas) | {cold_ratio:.2f}x | "
        f"{verdict(checks['two cold replicas <= 1.25x one'])} |",
        f"| the same, two replicas without Redis | {cold_one} | {cold_apart} | "
        f"{cold_apart / cold_one:.2f}x | - |",
        f"| notification on A -> tag on B (ms) | - | median {statistics.median(ms):.1f}, "
        f"max {max(ms):.1f} | - | {verdict(checks['every propagation < 1 s'])} |",
        "",
        "Propagation samples (ms): " + ", ".join(f"{m:.1f}" for m in ms),
        "",
        f"Redis after the two cold replicas: {redis_keys} keys, "
        f"{redis_bytes / 1024 / 1024:.1f} MiB used (an empty Redis uses about 0.9 MiB).",
        "",
    ]
    write_report("\n".join(lines), args.out)
    return 1 if args.fail_on_miss and not all(checks.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
