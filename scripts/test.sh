#!/usr/bin/env bash
# Install everything the tests need (venv, legacy TVM oracle venv, Chromium) and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev
if [ -x scripts/oracle_venv.sh ]; then
    scripts/oracle_venv.sh
fi
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
# pytest exits 5 when it collected nothing: that is a failure here, never a pass.
[ "$status" -eq 5 ] && echo "no tests collected" >&2
exit "$status"
