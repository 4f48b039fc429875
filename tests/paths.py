"""Where the tests' real files live: all inside the repository (provenance in tests/data/README.md)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
# The legacy TVM 0.19 ResNet-18 session: logs, model, build and debug dump are the app's sample too...
R18 = ROOT / "sample_logs" / "resnet18"
# ...and what only tests need of the same session: tasks, timings, env, the tuner's choices, profiler reports.
R18_META = DATA / "tvm019" / "resnet18"
ORACLE_EXAMPLE = DATA / "oracle_example"
THIRDPARTY = DATA / "thirdparty"
ONEDNN_VERBOSE = R18 / "onednn_verbose.txt"
RESNET50_LOG = THIRDPARTY / "resnet50-v2-7_autotvm_tvm0.13.log"
RESNET50_GRAPH = THIRDPARTY / "resnet50-v2-7_graph_executor.json"
# Small TVM 0.19 models before and after relay.build (tuner_view tests).
RESIDUAL_BUILDS = DATA / "tvm019" / "residual"
