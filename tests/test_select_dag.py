"""DP on a deep DAG of stacked residual and fork diamonds (the 500-conv benchmark's shape).

TVM's backward pass queues a node again for every path that reaches it: exponential here (a 150-conv
DAG took 149 s before tvmviz skipped re-processing a node whose choice has not changed). The choice must
still be the optimum, which the independent exact solver checks.
"""

from tvmviz import synth
from tvmviz.graph.onnx_import import onnx_model_to_graph
from tvmviz.measure.keys import needed_transform_keys
from tvmviz.select import SelectOptions, select
from tvmviz.store import Store


def test_dp_on_stacked_diamonds_is_the_exact_optimum():
    model = synth.random_dag(150, seed=1)
    graph = onnx_model_to_graph(model.proto, "dag150.onnx")
    store = Store.open(":memory:")
    lines = synth.tuning_records(model.workloads(), seed=1, options=synth.RecordOptions(pairs=(6, 7), failed_rate=0.0))
    (tuning_upload,) = store.ingest_bytes("dag_tuning.log", "\n".join(lines).encode())
    tuning = store.tuning_records([tuning_upload.upload_id])
    keys = needed_transform_keys(graph, tuning)
    layout = synth.measured_transform_records([synth.TransformKey(k.shape, k.src, k.dst) for k in keys], seed=1)
    (layout_upload,) = store.ingest_bytes("dag_layout.log", "\n".join(layout).encode())
    transforms = store.transform_records([layout_upload.upload_id])

    dp = select(graph, tuning, transforms, SelectOptions(solver="dp", compute_optimum=False))
    exact = select(graph, tuning, transforms, SelectOptions(solver="exact"))
    assert exact.optimal
    assert abs(dp.total_cost_s - exact.total_cost_s) <= 1e-6 * exact.total_cost_s
    assert len(dp.nodes) == 150
