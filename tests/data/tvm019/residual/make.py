"""Regenerate this folder with the legacy TVM 0.19 (the repository's .oracle-venv):

    .oracle-venv/bin/python tests/data/tvm019/residual/make.py

Three small Relay models, each written as the graph tuner sees it (``<name>.layout.json``, by
tools/relay_export.py) and as ``relay.build`` leaves it (``<name>.graph.json``), plus a short AutoTVM
log of their conv tasks (``tuning.log``). Input 1x16x8x8, 3x3 convs with 16 channels:

- ``residual_right``: relu(conv(relu(conv(r))) + b + r) with r = relu(conv(x) + b), then a stride-2
  conv with TF-style padding (0, 0, 1, 1) and relu;
- ``residual_left``: the same with the residual on the left: r + (conv(...) + b);
- ``self_residual``: relu((conv(r) + r) * 0.5), a residual around one conv and a scalar constant.
"""

import json
import os
import sys

import numpy as np
import tvm
from tvm import autotvm, relay

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "..", "tools"))
from relay_export import export_relay  # noqa: E402

TARGET = "llvm -mcpu=" + tvm.target.codegen.llvm_get_system_cpu()  # this machine
rng = np.random.default_rng(0)


def conv(x, stride=1, padding=(1, 1)):
    w = relay.const(rng.random((16, 16, 3, 3), dtype="float32"))
    return relay.nn.conv2d(x, w, strides=(stride, stride), padding=padding, channels=16, kernel_size=(3, 3))


def bias(x):
    return relay.nn.bias_add(x, relay.const(rng.random(16, dtype="float32")))


def model(kind):
    x = relay.var("data", shape=(1, 16, 8, 8))
    r = relay.nn.relu(bias(conv(x)))
    if kind == "self_residual":
        out = relay.nn.relu(relay.multiply(relay.add(conv(r), r), relay.const(0.5)))
    else:
        c2 = bias(conv(relay.nn.relu(conv(r))))
        s = relay.nn.relu(relay.add(c2, r) if kind == "residual_right" else relay.add(r, c2))
        out = relay.nn.relu(conv(s, stride=2, padding=(0, 0, 1, 1)))
    return tvm.IRModule.from_expr(relay.Function([x], out))


def main():
    tasks = {}
    for kind in ("residual_right", "residual_left", "self_residual"):
        mod = model(kind)
        with open(os.path.join(HERE, f"{kind}.layout.json"), "w") as f:
            json.dump(export_relay(mod, ["data"], source=f"{kind} (Relay)"), f)
        with tvm.transform.PassContext(opt_level=3):
            lib = relay.build(mod, target=TARGET)
        with open(os.path.join(HERE, f"{kind}.graph.json"), "w") as f:
            f.write(lib.get_graph_json())
        for t in autotvm.task.extract_from_program(mod["main"], target=TARGET, params={}):
            tasks.setdefault(str(t.workload), t)
    log = os.path.join(HERE, "tuning.log")
    if os.path.exists(log):
        os.remove(log)
    option = autotvm.measure_option(builder=autotvm.LocalBuilder(),
                                    runner=autotvm.LocalRunner(number=1, repeat=1, min_repeat_ms=0))
    for t in tasks.values():
        autotvm.tuner.GridSearchTuner(t).tune(n_trial=6, measure_option=option,
                                              callbacks=[autotvm.callback.log_to_file(log)])


if __name__ == "__main__":
    main()
