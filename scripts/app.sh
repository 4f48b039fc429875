#!/usr/bin/env bash
# Install what the app needs and open the dashboard on the logs in sample_logs/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m streamlit run app.py "$@"
