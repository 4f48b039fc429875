#!/usr/bin/env bash
# Install everything the tests need (venv, legacy TVM oracle venv, Chromium) and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev
scripts/oracle_venv.sh
# Browser tests drive Debian's Chromium (Playwright cannot download browsers here).
if [ ! -x /usr/bin/chromium ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -q && $sudo apt-get install -y -q chromium
fi
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
# pytest exits 5 when it collected nothing: that is a failure here, never a pass.
[ "$status" -eq 5 ] && echo "no tests collected" >&2
exit "$status"
