"""An SPA on ``/v2``, in chromium: served by the gateway against served by nginx.

    python bench/bench_spa.py [--tags 200] [--rounds 5] [--out bench/results/spa-latest.md]

What a registry UI written against ``/v2`` does on its tag page, as the SPA of this
bench does it (``SPA_JS`` below, one ``index.html`` and one script, served from the same
origin as ``/v2``): the repository's tag list, then for every tag its manifest (the four
manifest types in ``Accept``) and its config blob, all asked at once (the browser keeps
six connections per origin), then one table row per tag. The page is done when the last
row is drawn; the time is the browser's own (``performance.now()`` at that moment).

A real registry (Debian's distribution 2.8, on /dev/shm) holding ``--tags`` distinct
images in one repository; in front of it, each on a loopback port: the gateway
(``LR_SPA_DIR`` the SPA's folder, ``LR_V2_MODE=pull``, default settings otherwise) and
nginx serving the same folder and proxying ``/v2/`` (``bench/nginx.py``: ``tuned`` and
``template``). Headless chromium (``/usr/bin/chromium`` through Playwright), for every
target and round (the order rotated):

- **cold**: a new browser context (nothing cached in the browser);
- **warm**: the same page reloaded in that context (what the browser keeps, it keeps).

The gateway's very first page (its own caches empty too) is shown apart. Medians; the
proxy's CPU time per page (the gateway process; nginx's master and worker). Targets:
the gateway ≤ 1.0× the tuned nginx's time, cold and warm.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


from bench.nginx import TEMPLATE, TUNED, Nginx, nginx_binary, start_nginx  # noqa: E402
from bench.report import git_describe, verdict, write_report  # noqa: E402
from bench.servers import gateway_process, process_cpu  # noqa: E402
from harness.corpus import push_corpus  # noqa: E402
from harness.registry import start_registry  # noqa: E402

REPO = "spa/app"
CHROMIUM = os.environ.get("LR_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]

INDEX_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>tags</title></head>
<body><h1 id="title">loading</h1><table id="tags"></table>
<script src="/app.js"></script></body></html>
"""

SPA_JS = """
const REPO = %(repo)s;
const ACCEPT = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

async function row(tag) {
  const m = await fetch(`/v2/${REPO}/manifests/${tag}`, {headers: {Accept: ACCEPT}});
  if (!m.ok) throw new Error(`manifest ${tag}: ${m.status}`);
  const manifest = await m.json();
  const c = await fetch(`/v2/${REPO}/blobs/${manifest.config.digest}`);
  if (!c.ok) throw new Error(`config ${tag}: ${c.status}`);
  const config = await c.json();
  const size = manifest.layers.reduce((sum, l) => sum + l.size, manifest.config.size);
  return [tag, config.created, `${config.os}/${config.architecture}`, size];
}

async function main() {
  const r = await fetch(`/v2/${REPO}/tags/list`);
  const tags = (await r.json()).tags;
  const rows = await Promise.all(tags.map(row));
  const table = document.getElementById("tags");
  for (const cells of rows) {
    const tr = document.createElement("tr");
    for (const cell of cells) {
      const td = document.createElement("td");
      td.textContent = String(cell);
      tr.appendChild(td);
    }
    table.appendChild(tr);
  }
  document.getElementById("title").textContent = `${rows.length} tags`;
  window.__done = performance.now();
}
main().catch((e) => { window.__failed = String(e); });
"""


def write_spa(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_text(INDEX_HTML, encoding="utf-8")
    (folder / "app.js").write_text(SPA_JS % {"repo": f'"{REPO}"'}, encoding="utf-8")


@dataclass
class Target:
    name: str
    url: str
    pids: list[int]
    cold: list[float] = field(default_factory=list)
    warm: list[float] = field(default_factory=list)
    cpu_cold: list[float] = field(default_factory=list)
    cpu_warm: list[float] = field(default_factory=list)
    first: float | None = None

    def cpu(self) -> float:
        return sum(process_cpu(pid) for pid in self.pids)


def start_gateway(registry: str, spa: Path, workdir: Path) -> subprocess.Popen[bytes]:
    return gateway_process(registry, workdir, LR_V2_MODE="pull", LR_SPA_DIR=str(spa))


def _wait_done(page: Any, within: float = 300.0) -> None:
    """Poll until the SPA says it is done (or failed). Not ``wait_for_function``: its
    predicate is evaluated as a string, which the gateway's Content-Security-Policy
    (no ``unsafe-eval``) refuses."""
    from playwright.sync_api import Error as PlaywrightError

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if page.evaluate("window.__done !== undefined || window.__failed !== undefined"):
                return
        except PlaywrightError:
            pass  # the page is being replaced (a reload): ask the new one
        time.sleep(0.005)
    raise RuntimeError("the SPA did not finish")


def load(page: Any, url: str | None, tags: int) -> float:
    """Go to ``url`` (None: reload) and wait for the last row; the browser's time."""
    if url is None:
        page.reload(wait_until="commit")
    else:
        page.goto(url, wait_until="commit")
    _wait_done(page)
    failed = page.evaluate("window.__failed")
    if failed:
        raise RuntimeError(f"the SPA failed: {failed}")
    rows = page.evaluate("document.querySelectorAll('#tags tr').length")
    if rows != tags:
        raise RuntimeError(f"{rows} rows drawn, not {tags}")
    return float(page.evaluate("window.__done")) / 1000


def visit(browser: Any, target: Target, tags: int) -> tuple[float, float, float, float]:
    """(cold, CPU cold, warm, CPU warm) of one round."""
    context = browser.new_context()
    try:
        page = context.new_page()
        cpu = target.cpu()
        cold = load(page, target.url + "/", tags)
        cpu_cold = target.cpu() - cpu
        cpu = target.cpu()
        warm = load(page, None, tags)
        return cold, cpu_cold, warm, target.cpu() - cpu
    finally:
        context.close()


def ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tags", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default="bench/results/spa-latest.md")
    args = parser.parse_args()
    if nginx_binary() is None or not Path(CHROMIUM).is_file():
        print("needs nginx and chromium (apt-get install nginx chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    tmp = Path(tempfile.mkdtemp(prefix="lr-bench-spa-", dir=shm))
    spa = tmp / "spa"
    write_spa(spa)
    registry = start_registry(tmp / "registry", version="2.8")
    servers: list[Nginx] = []
    gateway = None
    try:
        push_corpus(registry.url, REPO, args.tags)
        gateway = start_gateway(registry.url, spa, tmp)
        for kind in (TUNED, TEMPLATE):
            servers.append(start_nginx(kind, registry.url, spa, tmp))
        targets = [
            Target("gateway", gateway.url, [gateway.pid]),  # type: ignore[attr-defined]
            *(Target(f"nginx {s.kind}", s.url, s.pids()) for s in servers),
        ]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                first = visit(browser, targets[0], args.tags)
                targets[0].first = first[0]
                for t in targets[1:]:
                    visit(browser, t, args.tags)  # discarded: the same warm-up for each
                for i in range(args.rounds):
                    order = targets[i % len(targets) :] + targets[: i % len(targets)]
                    for t in order:
                        cold, cpu_cold, warm, cpu_warm = visit(browser, t, args.tags)
                        t.cold.append(cold)
                        t.cpu_cold.append(cpu_cold)
                        t.warm.append(warm)
                        t.cpu_warm.append(cpu_warm)
                    print(
                        f"round {i + 1}: "
                        + ", ".join(
                            f"{t.name} {t.cold[-1] * 1000:.0f}/{t.warm[-1] * 1000:.0f} ms"
                            for t in targets
                        ),
                        flush=True,
                    )
            finally:
                browser.close()
    finally:
        for s in servers:
            s.stop()
        if gateway is not None:
            gateway.terminate()
            gateway.wait(timeout=30)
        registry.stop()
    confs = {s.kind: s.conf for s in servers}
    shutil.rmtree(tmp, ignore_errors=True)

    base = targets[1]  # nginx tuned
    lines = [
        "# An SPA on /v2 in chromium: the gateway against nginx (bench/bench_spa.py)",
        "",
        f"Commit {git_describe()}; distribution 2.8 on /dev/shm; {args.tags} tags of distinct "
        f"images; {os.cpu_count()} CPUs; headless chromium; medians of {args.rounds} rounds. "
        "Per page: the tag list, then a manifest and a config blob per tag.",
        "",
        "| served by | cold | warm (reloaded) | proxy CPU per page, cold / warm | "
        "ratio to tuned nginx, cold / warm | target |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for t in targets:
        cold, warm = ms(t.cold) / ms(base.cold), ms(t.warm) / ms(base.warm)
        ok = verdict(cold <= 1.0 and warm <= 1.0) + " (≤ 1.0×)" if t.name == "gateway" else ""
        lines.append(
            f"| {t.name} | {ms(t.cold):.0f} ms | {ms(t.warm):.0f} ms | "
            f"{ms(t.cpu_cold):.0f} / {ms(t.cpu_warm):.0f} ms | {cold:.2f} / {warm:.2f} | {ok} |"
        )
    gw = targets[0]
    lines += [
        "",
        f"The gateway's very first page (its caches empty too): {(gw.first or 0) * 1000:.0f} ms.",
        "",
    ]
    for kind, text in confs.items():
        lines += [f"nginx `{kind}`:", "", "```nginx", text.rstrip(), "```", ""]
    write_report("\n".join(lines), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
