#!/usr/bin/env bash
# The project's demo command: a gateway on http://127.0.0.1:8000 in front of a registry.
#
#   ./scripts/demo.sh
#   LR_REGISTRY_URL=http://127.0.0.1:5000 ./scripts/demo.sh   # use a running registry
#
# On a fresh Debian/Ubuntu machine it first installs what it needs (as root, or through
# sudo): docker-registry and python3-venv; then creates .venv (Python >= 3.11; set
# PYTHON=... to pick the interpreter) and installs the package.
#
# Registry: when LR_REGISTRY_URL is set and its /v2/ answers (200 or 401), that one is
# used as it is. Otherwise a local registry is started on 127.0.0.1:5000 (or the next
# free port), with its data in .demo/data and its log in .demo/registry.log, filled
# with the demo's content by scripts/seed_registry.py (docs/demo.md: a signed image
# with an SBOM, a multi-platform index with BuildKit attestations, a Helm chart, an
# oras artifact, repositories of 60 and 240 tags), and wired to the gateway's
# /api/events with a random LR_EVENTS_TOKEN. `rm -rf .demo` starts over.
#
# The gateway runs in the foreground with deletes enabled (LR_DELETE_ENABLED=true) and
# the registry's v2 API in push mode (LR_V2_MODE=push: docker push and pull go through
# it) on LR_PORT (default 8000, or the next free port); open it in a browser for the
# reference UI. To try the login flow, a second registry that requires a login (htpasswd, users
# alice and bob with passwords made on each start and printed) is started with its own
# gateway on the next free port (data in .demo/login; LR_DEMO_LOGIN=0 skips it).
# Ctrl-C stops the gateways and the registries this script started.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

lr_ensure_apt_packages docker-registry python3-venv apache2-utils
lr_ensure_venv
lr_pip_install -e .

host=127.0.0.1
want_port="${LR_PORT:-8000}"
port="$(lr_free_port "$want_port")"
if [ "$port" != "$want_port" ]; then
    lr_warn "port $want_port is taken: the gateway will listen on $port"
fi
gateway_url="http://$host:$port"

registry_pid=""
gateway_pid=""
login_registry_pid=""
login_gateway_pid=""

# shellcheck disable=SC2329  # called from the traps
stop_pid() {
    local pid="$1"
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2329  # called from the traps
cleanup() {
    trap - EXIT INT TERM
    stop_pid "$gateway_pid"
    gateway_pid=""
    stop_pid "$login_gateway_pid"
    login_gateway_pid=""
    if [ -n "$login_registry_pid" ]; then
        lr_say "stopping the login registry (PID $login_registry_pid)"
        stop_pid "$login_registry_pid"
        login_registry_pid=""
    fi
    if [ -n "$registry_pid" ]; then
        lr_say "stopping the local registry (PID $registry_pid)"
        stop_pid "$registry_pid"
        registry_pid=""
    fi
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

# --- the registry -------------------------------------------------------------------
registry_note=""
if [ -n "${LR_REGISTRY_URL:-}" ] && lr_registry_alive "$LR_REGISTRY_URL"; then
    registry_url="${LR_REGISTRY_URL%/}"
    registry_note="(yours, from LR_REGISTRY_URL)"
    lr_say "using the registry at $registry_url"
else
    if [ -n "${LR_REGISTRY_URL:-}" ]; then
        lr_warn "LR_REGISTRY_URL=$LR_REGISTRY_URL does not answer on /v2/: starting a local registry instead"
    fi
    registry_port="$(lr_free_port 5000)"
    registry_url="http://127.0.0.1:$registry_port"
    LR_EVENTS_TOKEN="$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))')"
    export LR_EVENTS_TOKEN
    mkdir -p .demo
    lr_say "starting a local registry on $registry_url (log: .demo/registry.log)"
    bash scripts/run_registry.sh --dir .demo --port "$registry_port" \
        --events-url "$gateway_url/api/events" --events-token "$LR_EVENTS_TOKEN" \
        >.demo/registry.log 2>&1 &
    registry_pid=$!
    if ! lr_wait_registry "$registry_url" 15 || ! kill -0 "$registry_pid" 2>/dev/null; then
        tail -n 20 .demo/registry.log >&2 || true
        lr_die "the local registry did not start (see .demo/registry.log)"
    fi
    registry_note="(local, PID $registry_pid, data in .demo/data)"
    if [ -f scripts/seed_registry.py ]; then
        lr_say "filling it with demo images: python scripts/seed_registry.py $registry_url"
        python scripts/seed_registry.py "$registry_url"
    else
        lr_warn "scripts/seed_registry.py not found: the registry stays as it is"
    fi
fi

# --- the login demo: a registry that needs credentials, and a gateway in front -------
login_note=""
if [ "${LR_DEMO_LOGIN:-1}" != "0" ]; then
    login_dir=.demo/login
    mkdir -p "$login_dir"
    login_registry_port="$(lr_free_port 5001)"
    login_registry_url="http://127.0.0.1:$login_registry_port"
    login_port="$(lr_free_port $((port + 1)))"
    login_gateway_url="http://$host:$login_port"
    login_events_token="$(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
    alice_pw="$(python -c 'import secrets; print(secrets.token_urlsafe(9))')"
    bob_pw="$(python -c 'import secrets; print(secrets.token_urlsafe(9))')"
    (umask 077 && {
        htpasswd -Bbn alice "$alice_pw"
        htpasswd -Bbn bob "$bob_pw"
    } | grep -v '^$' >"$login_dir/htpasswd")
    lr_say "starting a registry that needs a login on $login_registry_url (log: $login_dir/registry.log)"
    bash scripts/run_registry.sh --dir "$login_dir" --port "$login_registry_port" \
        --htpasswd "$login_dir/htpasswd" \
        --events-url "$login_gateway_url/api/events" --events-token "$login_events_token" \
        >"$login_dir/registry.log" 2>&1 &
    login_registry_pid=$!
    if lr_wait_registry "$login_registry_url" 15 && kill -0 "$login_registry_pid" 2>/dev/null; then
        python scripts/seed_registry.py "$login_registry_url" --username alice \
            --password "$alice_pw" --small >/dev/null
        LR_REGISTRY_URL="$login_registry_url" LR_HOST="$host" LR_PORT="$login_port" \
            LR_DELETE_ENABLED=true LR_EVENTS_TOKEN="$login_events_token" \
            LR_REGISTRY_USERNAME='' LR_REGISTRY_PASSWORD='' \
            python -m gateway --host "$host" --port "$login_port" \
            >"$login_dir/gateway.log" 2>&1 &
        login_gateway_pid=$!
        login_note="
Login demo (a registry that needs credentials)
  registry  $login_registry_url (local, PID $login_registry_pid, data in $login_dir/data)
  gateway   $login_gateway_url  (log: $login_dir/gateway.log)
  users     alice / $alice_pw
            bob   / $bob_pw
"
    else
        tail -n 20 "$login_dir/registry.log" >&2 || true
        lr_warn "the login registry did not start: skipping the login demo"
        stop_pid "$login_registry_pid"
        login_registry_pid=""
    fi
fi

export LR_REGISTRY_URL="$registry_url"
export LR_HOST="$host"
export LR_PORT="$port"
export LR_DELETE_ENABLED=true
export LR_V2_MODE=push

# A repository and tag for the examples below (a multi-arch one when there is one),
# when the registry is readable anonymously.
example="$(
    python - "$registry_url" <<'PY' 2>/dev/null || true
import json
import sys
import urllib.parse
import urllib.request


def get(path):
    with urllib.request.urlopen(sys.argv[1] + path, timeout=3) as resp:
        return json.load(resp)


names = get("/v2/_catalog?n=100").get("repositories") or []
if names:
    repo = next((n for n in names if "multi" in n), names[0])
    tags = sorted(get(f"/v2/{repo}/tags/list").get("tags") or [])
    tag = "latest" if "latest" in tags else (tags[0] if tags else "")
    print(repo, urllib.parse.quote(tag))
PY
)"
example_repo="<name>"
example_tag="<tag>"
if [ -n "$example" ]; then
    read -r example_repo example_tag <<<"$example"
    example_tag="${example_tag:-<tag>}"
fi

cat <<EOF

Light Registry demo
  registry  $registry_url $registry_note
  UI        $gateway_url/   (open it in a browser; deletes enabled)
  API docs  $gateway_url/docs   (OpenAPI: $gateway_url/openapi.json)
$login_note
Try:
  curl -s $gateway_url/api/health
  curl -s '$gateway_url/api/repositories?n=20'
  curl -s '$gateway_url/api/repositories/$example_repo/tags?details=true&sort=-version'
  curl -s '$gateway_url/api/repositories/$example_repo/images/$example_tag'

Push and pull through the gateway (it serves the registry's v2 API, push mode):
  docker pull $host:$port/demo/hello:1.0
  docker tag $host:$port/demo/hello:1.0 $host:$port/demo/mine:1.0
  docker push $host:$port/demo/mine:1.0
  skopeo copy --src-tls-verify=false --dest-tls-verify=false docker://$host:$port/demo/hello:1.0 docker://$host:$port/demo/copy:1.0
  helm pull oci://$host:$port/charts/nginx --version 15.0.2 --plain-http
  oras pull --plain-http $host:$port/demo/notes:1.0
(docs/demo.md has more; a push shows up in the UI at once.)

Ctrl-C stops everything this script started.

EOF

# --- the gateway (foreground for the user; a child we can signal for the script) ----
python -m gateway --host "$host" --port "$port" &
gateway_pid=$!
set +e
wait "$gateway_pid"
rc=$?
set -e
gateway_pid=""
exit "$rc"
