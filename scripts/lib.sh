# shellcheck shell=bash
# Shared shell functions for scripts/test.sh, scripts/demo.sh and scripts/run_registry.sh.
# Source it; do not run it. Expects the caller to have `set -euo pipefail` and to be in
# the repository root.

# Minimum Python version the package supports (pyproject: requires-python >= 3.11).
LR_MIN_PY_MAJOR=3
LR_MIN_PY_MINOR=11

lr_say() { printf '==> %s\n' "$*" >&2; }
lr_warn() { printf 'warning: %s\n' "$*" >&2; }
lr_die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Run a command as root: directly when we are root, through sudo when it exists.
lr_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        lr_die "need root to run '$*' (not root, and sudo is not installed)"
    fi
}

# True when the Debian package is installed.
lr_deb_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = "installed" ]
}

# Install the given Debian/Ubuntu packages that are not installed yet.
# `apt-get update` runs only when something is missing. Set LR_SKIP_APT=1 to skip this
# step entirely (e.g. on a machine where the tools come from elsewhere).
lr_ensure_apt_packages() {
    if [ "${LR_SKIP_APT:-0}" = "1" ]; then
        return 0
    fi
    if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
        lr_warn "not a Debian/Ubuntu system: make sure these are installed: $*"
        return 0
    fi
    local missing=() pkg
    for pkg in "$@"; do
        lr_deb_installed "$pkg" || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    lr_say "installing system packages: ${missing[*]}"
    lr_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    lr_as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# True when the given interpreter is at least the minimum version.
lr_python_ok() {
    "$1" -c "import sys; sys.exit(0 if sys.version_info >= (${LR_MIN_PY_MAJOR}, ${LR_MIN_PY_MINOR}) else 1)" \
        >/dev/null 2>&1
}

# Create .venv (with $PYTHON, default python3) when absent or broken, check its
# version, and put it first on PATH. Prints nothing on success.
lr_ensure_venv() {
    local python="${PYTHON:-python3}"
    local want="${LR_MIN_PY_MAJOR}.${LR_MIN_PY_MINOR}"
    if [ -x .venv/bin/python ] && ! lr_python_ok .venv/bin/python; then
        lr_die ".venv uses Python $(.venv/bin/python -c 'import platform; print(platform.python_version())'), need >= ${want}: remove .venv and run again"
    fi
    if [ ! -x .venv/bin/python ]; then
        command -v "$python" >/dev/null 2>&1 ||
            lr_die "$python not found: install Python >= ${want} (or set PYTHON=/path/to/python3.11)"
        lr_python_ok "$python" ||
            lr_die "$python is Python $("$python" -c 'import platform; print(platform.python_version())'), need >= ${want} (set PYTHON=/path/to/python3.11 or newer)"
        lr_say "creating .venv with $("$python" --version 2>&1)"
        rm -rf .venv
        "$python" -m venv .venv ||
            lr_die "'$python -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)"
    fi
    export VIRTUAL_ENV="$PWD/.venv"
    export PATH="$VIRTUAL_ENV/bin:$PATH"
    export PIP_DISABLE_PIP_VERSION_CHECK=1
}

# pip install into .venv, quietly. Arguments are pip install arguments.
lr_pip_install() {
    lr_say "pip install $*"
    .venv/bin/python -m pip install -q "$@"
}

# Print the first free TCP port on 127.0.0.1 at or after $1.
lr_free_port() {
    local python="python3"
    [ -x .venv/bin/python ] && python=.venv/bin/python
    "$python" - "$1" <<'PY'
import socket
import sys

port = int(sys.argv[1])
for candidate in range(port, min(port + 200, 65536)):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # as servers do: a port with only TIME_WAIT connections left is free
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        print(candidate)
        sys.exit(0)
sys.exit(f"no free port in {port}..{port + 199}")
PY
}

# True when GET <url>/v2/ answers 200 or 401 (a live registry, with or without auth).
lr_registry_alive() {
    local python="python3"
    [ -x .venv/bin/python ] && python=.venv/bin/python
    "$python" - "$1" <<'PY' >/dev/null 2>&1
import sys
import urllib.error
import urllib.request

url = sys.argv[1].rstrip("/") + "/v2/"
try:
    with urllib.request.urlopen(url, timeout=3) as resp:
        status = resp.status
except urllib.error.HTTPError as exc:
    status = exc.code
except Exception:
    sys.exit(1)
sys.exit(0 if status in (200, 401) else 1)
PY
}

# Wait up to $2 seconds (default 15) for the registry at $1 to answer.
lr_wait_registry() {
    local url="$1" deadline=$((SECONDS + ${2:-15}))
    while [ "$SECONDS" -lt "$deadline" ]; do
        lr_registry_alive "$url" && return 0
        sleep 0.2
    done
    return 1
}
