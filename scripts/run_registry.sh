#!/usr/bin/env bash
# Run a local CNCF distribution registry (no Docker needed) in the foreground.
#
#   scripts/run_registry.sh [--dir DIR] [--port PORT] [--htpasswd FILE]
#                           [--events-url URL --events-token TOKEN]
#
#   --dir           state directory (default: .demo in the repository root): writes
#                   DIR/registry.yml, stores images in DIR/data
#   --port          port on 127.0.0.1 (default: 5000, or the next free one)
#   --htpasswd      require Basic auth, checked against this htpasswd file (bcrypt)
#   --events-url    send registry notifications there (e.g. the gateway's /api/events)
#   --events-token  bearer token for those notifications (the gateway's LR_EVENTS_TOKEN)
#
# Deletes are enabled. The binary is `docker-registry` (Debian/Ubuntu package of the
# same name) or `registry`; LR_REGISTRY_BIN overrides. Stop it with Ctrl-C or by
# signalling its PID (the script execs the registry, so its PID is the registry's).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

dir="$root/.demo"
port=""
events_url=""
events_token=""
htpasswd=""
while [ "$#" -gt 0 ]; do
    case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --htpasswd) htpasswd="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"; shift 2 ;;
    --events-url) events_url="$2"; shift 2 ;;
    --events-token) events_token="$2"; shift 2 ;;
    -h | --help)
        sed -n '2,17p' "$root/scripts/run_registry.sh" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) lr_die "unknown argument: $1 (see --help)" ;;
    esac
done
if [ -n "$events_url" ] && [ -z "$events_token" ]; then
    lr_die "--events-url needs --events-token"
fi

bin="${LR_REGISTRY_BIN:-}"
if [ -z "$bin" ]; then
    if command -v docker-registry >/dev/null 2>&1; then
        bin=docker-registry
    elif command -v registry >/dev/null 2>&1; then
        bin=registry
    else
        lr_die "no registry binary found: apt-get install docker-registry (or set LR_REGISTRY_BIN)"
    fi
fi

mkdir -p "$dir/data"
dir="$(cd "$dir" && pwd)"
cd "$root"
[ -n "$port" ] || port="$(lr_free_port 5000)"
config="$dir/registry.yml"

# The packaged /etc/docker/registry/config.yml is not usable as shipped; write our own.
{
    cat <<EOF
# Written by scripts/run_registry.sh; rewritten on every start.
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: "$dir/data"
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: "127.0.0.1:$port"
  headers:
    X-Content-Type-Options: [nosniff]
EOF
    if [ -n "$htpasswd" ]; then
        cat <<EOF
auth:
  htpasswd:
    realm: light-registry-demo
    path: "$htpasswd"
EOF
    fi
    if [ -n "$events_url" ]; then
        cat <<EOF
notifications:
  endpoints:
    - name: light-registry
      url: "$events_url"
      headers:
        Authorization: ["Bearer $events_token"]
      timeout: 2s
      threshold: 5
      backoff: 1s
      ignore:
        # blob uploads would only cost the gateway a request; pulls are recorded
        mediatypes: [application/octet-stream]
EOF
    fi
} >"$config"
chmod 600 "$config"

lr_say "registry on http://127.0.0.1:$port (config $config, data $dir/data)"
exec "$bin" serve "$config"
