#!/usr/bin/env bash
# The project's test command: lint (ruff), types (mypy) and the test suite (pytest).
#
#   ./scripts/test.sh                 # everything
#   ./scripts/test.sh -k tags -x      # extra arguments go to pytest
#   LR_SKIP_LINT=1 ./scripts/test.sh  # pytest only
#
# On a fresh Debian/Ubuntu machine it first installs what the tests need (as root, or
# through sudo): a real registry (docker-registry), skopeo, htpasswd (apache2-utils),
# python3-venv and pip, chromium, Node.js and npm, redis-server; then creates .venv (Python >= 3.11;
# set PYTHON=... to pick the interpreter) and installs the package with its test extra. The browser tests drive
# Debian's chromium through Playwright for Python (Playwright's own browser downloads
# are never used). Set LR_SKIP_APT=1 to skip the system packages.
#
# With the Go toolchain (go on PATH, /usr/local/go/bin/go, or LR_GO) it builds the Go
# programs the tests run as peers from the Go module proxy, once: distribution 3.0 and
# 3.1 (the suite's default registry), crane, oras, the OCI conformance suite and a
# registry with the referrers API (harness/go_peers.py pins them). They are cached
# by version under ~/.cache/light-registry/go (LR_GO_PEERS_DIR to move it); the first
# build takes several minutes, a second run nothing. Without Go the tests that need them
# skip, saying so.
#
# Exit status: pytest's, so 5 (no tests collected) is a failure too; 1 when pytest
# passed but ruff or mypy did not.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

lr_ensure_apt_packages docker-registry skopeo apache2-utils python3-venv python3-pip \
    chromium fonts-dejavu-core nodejs redis-server
# nginx, for the blob offload's tests (tests/test_blob_offload.py), on its own: a
# package whose service cannot start here must not stop the whole run (they skip).
lr_ensure_apt_packages nginx || lr_warn "nginx could not be installed: the blob offload tests will skip"
# npm: Debian's package, unless a Node.js that ships its own npm is installed.
command -v npm >/dev/null 2>&1 || lr_ensure_apt_packages npm
lr_ensure_venv
lr_pip_install -e '.[test]'
# The TypeScript client check and the Vite SPA the tests build (pinned by lockfiles).
if command -v npm >/dev/null 2>&1; then
    for project in tests/typescript tests/vite-spa; do
        lr_say "npm ci --prefix $project"
        npm ci --prefix "$project" --no-audit --no-fund --loglevel=error
    done
fi

# Lighthouse, for the reference UI's budgets (tests/test_ui_lighthouse.py; the marker
# "lighthouse" selects them): pinned by its lockfile, run on Debian's chromium.
if command -v npm >/dev/null 2>&1; then
    lr_say "npm ci --prefix tests/lighthouse"
    npm ci --prefix tests/lighthouse --no-audit --no-fund --loglevel=error
fi

# Go peers (a build failure is reported here and again by the tests that need them).
lr_say "Go test peers (python -m harness.go_peers)"
python -m harness.go_peers || lr_warn "some Go peers did not build (see above)"

lint_failed=()
if [ "${LR_SKIP_LINT:-0}" != "1" ]; then
    lr_say "ruff check ."
    ruff check . || lint_failed+=(ruff)
    lr_say "mypy"
    mypy || lint_failed+=(mypy)
fi

# The suite runs as two pytest processes side by side (the two cores stay busy: one
# part waits on chromium while the other waits on registries): --part=others, and
# --part=browser+alone: the tests driving chromium (with a few modules that balance the
# two), then the tests held to wall clocks that must not share the machine (the
# Lighthouse performance score, a change found within a second, marker 'alone'), which
# wait for the others to end (LR_ALONE_AFTER: a file written then) and reuse the
# browser part's servers. LR_TEST_PARTS=1: one process.
set +e
if [ "${LR_TEST_PARTS:-2}" = "1" ]; then
    lr_say "python -m pytest $*"
    python -m pytest "$@"
    rc=$?
else
    mkdir -p test-results
    browser_log=test-results/browser-part.log
    others_done=$(mktemp -u "${TMPDIR:-/tmp}/lr-others-done.XXXXXX")
    lr_say "python -m pytest --part=browser+alone $* (in the background, into $browser_log)"
    LR_ALONE_AFTER="$others_done" python -m pytest --part=browser+alone "$@" \
        >"$browser_log" 2>&1 &
    browser_pid=$!
    lr_say "python -m pytest --part=others $*"
    python -m pytest --part=others "$@"
    others_rc=$?
    touch "$others_done"
    wait "$browser_pid"
    browser_rc=$?
    rm -f "$others_done"
    lr_say "the browser part and the tests held to a wall clock (python -m pytest --part=browser+alone $*)"
    cat "$browser_log"
    # A part may select nothing (-k, -m): that is a failure only if every part does.
    rc=5
    for part_rc in "$others_rc" "$browser_rc"; do
        if [ "$part_rc" -ne 5 ] && { [ "$rc" -eq 5 ] || [ "$rc" -eq 0 ]; }; then
            rc=$part_rc
        fi
    done
fi
set -e

if [ "$rc" -eq 5 ]; then
    printf 'error: pytest collected no tests (exit status 5): counted as a failure\n' >&2
fi
if [ "$rc" -ne 0 ]; then
    if [ "${#lint_failed[@]}" -ne 0 ]; then
        printf 'error: also failed: %s\n' "${lint_failed[*]}" >&2
    fi
    exit "$rc"
fi
if [ "${#lint_failed[@]}" -ne 0 ]; then
    printf 'error: tests passed, but %s failed (see above)\n' "${lint_failed[*]}" >&2
    exit 1
fi
