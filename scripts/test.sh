#!/usr/bin/env bash
# Install everything the tests need (venv, legacy TVM oracle venv, Chromium, the test OIDC provider) and run
# the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {  # Debian packages, as root or through sudo, without questions
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -q && $sudo apt-get install -y -q "$@"
}

scripts/setup.sh dev
scripts/oracle_venv.sh
# Browser tests drive Debian's Chromium (Playwright cannot download browsers here).
[ -x /usr/bin/chromium ] || apt_install chromium
# The team-server tests sign in against a real OpenID Connect provider (npm's oidc-provider on node).
command -v npm >/dev/null || apt_install nodejs npm
[ -d tests/oidc/node_modules/oidc-provider ] || npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
# pytest exits 5 when it collected nothing: that is a failure here, never a pass.
[ "$status" -eq 5 ] && echo "no tests collected" >&2
exit "$status"
