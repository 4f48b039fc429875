"""The report a reviewer reads (tvmviz/report.py, `python -m tvmviz report`) and the Model Explorer node data
(tvmviz/export/model_explorer.py), checked against the sample files themselves."""

import hashlib
import io
import json
import zipfile

import onnx
import pytest

from tests.paths import R18
from tvmviz.cli import main
from tvmviz.export import model_explorer
from tvmviz.report import md_code
from tvmviz.select import Scenario, SelectOptions, regret_table, select
from tvmviz.select.cli import load_graph, load_records

FILES = ["--graph", str(R18 / "resnet18.onnx"), "--tuning-log", str(R18 / "tuning.log"),
         "--transform-log", str(R18 / "layout_transform.log")]


def _report(tmp_path, *extra):
    out = tmp_path / "report.zip"
    rc = main(["report", *FILES, "--no-images", *extra, "-o", str(out)])
    return rc, out


def test_report_names_its_inputs_machine_software_and_scenario_in_words(tmp_path):
    scenario = Scenario(pins={"layer1.0.conv1_4": (64, 16)}).to_string()
    rc, out = _report(tmp_path, "--estimate-transforms", "--scenario", scenario, "--ask", "layer2.0.conv1_14=64",
                      "--uploader", "eve | <script>alert(1)</script> *bold*")
    assert rc == 0
    z = zipfile.ZipFile(out)
    md = z.read("report.md").decode()
    for name in ("resnet18.onnx", "tuning.log", "layout_transform.log"):
        assert hashlib.sha256((R18 / name).read_bytes()).hexdigest() in md
    first = json.loads(open(R18 / "tuning.log").readline())
    assert first["input"][0] in md and first["tvm_version"] in md
    assert "pin layer1.0.conv1\\_4 to 64c→16c" in md and scenario in md
    assert "`layer1.0.conv1_4`: pinned to 64c→16c by the scenario." in md
    # user text is a code span: never Markdown, never HTML
    assert "uploaded by `eve | <script>alert(1)</script> *bold*`" in md
    assert "<script>" not in md.replace("`eve | <script>alert(1)</script> *bold*`", "")
    # the inequality for the changed layer and the asked one, one layout spelling
    assert "### `layer1.0.conv1_4`: why 64c→16c and not 32c→8c" in md
    assert "### `layer2.0.conv1_14`: why 64c→16c and not 64c" in md and "Latency(NCHW64c)" in md
    assert "->" not in md and "NCHW256c → " not in md
    assert "## Graph" not in md  # --no-images: no picture section pointing at a missing file
    names = set(z.namelist())
    assert {"report.md", "schedule.log", "model_explorer/tvmviz_chosen_x.json"} <= names


def test_an_infeasible_scenario_is_an_error_not_the_baseline(tmp_path, capsys):
    scenario = Scenario(exclude_x=frozenset({1, 2, 3, 4, 8, 16, 32, 64, 128, 256, 512})).to_string()
    rc, out = _report(tmp_path, "--scenario", scenario)
    err = capsys.readouterr().err
    assert rc == 2 and not out.exists()
    assert err.startswith("error: the scenario has no solution") and "excluded x" in err and "Traceback" not in err


def test_md_code_keeps_backticks_and_newlines_harmless():
    assert md_code("a`b") == "``a`b``" and md_code("x\ny") == "`x y`" and md_code("|") == "`\\|`"
    assert md_code("a|b", in_table=False) == "`a|b`"


def test_model_explorer_node_data_is_keyed_by_the_onnx_node_names():
    graph = load_graph(str(R18 / "resnet18.onnx"))
    tuning, transforms = load_records([str(R18 / "tuning.log")], [str(R18 / "layout_transform.log")])
    sel = select(graph, tuning, transforms, SelectOptions())
    data = model_explorer.node_data(sel, model_explorer.smallest_regrets(regret_table(sel)))
    onnx_convs = [n.name for n in onnx.load(str(R18 / "resnet18.onnx")).graph.node if n.op_type == "Conv"]
    for metric in ("chosen_x", "kernel_ms", "regret_ms"):
        assert list(data[metric]["results"]) == onnx_convs, metric
    chosen = {n.name: n for n in sel.nodes}
    for name, r in data["chosen_x"]["results"].items():
        assert r["value"] == chosen[name].oc_bn and r["bgColor"].startswith("#")
    for name, r in data["kernel_ms"]["results"].items():
        assert r["value"] == pytest.approx(chosen[name].kernel_cost_s * 1e3)
    assert all(r["value"] >= 0 for r in data["regret_ms"]["results"].values())
    gradient = data["kernel_ms"]["gradient"]
    assert gradient[0]["stop"] == 0 and gradient[-1]["stop"] == 1
    files = model_explorer.files(data)
    assert all(json.loads(text)["results"] for text in files.values())


def test_report_zip_carries_the_node_data_files(tmp_path):
    rc, out = _report(tmp_path)
    assert rc == 0
    z = zipfile.ZipFile(io.BytesIO(out.read_bytes()))
    chosen = json.loads(z.read("model_explorer/tvmviz_chosen_x.json"))
    assert "layer2.0.conv1_14" in chosen["results"]
    lines = z.read("schedule.log").decode().splitlines()
    assert len(lines) == 20


def test_report_of_a_stored_run(tmp_path, capsys):
    db = str(tmp_path / "t.duckdb")
    assert main(["ingest", str(R18), "--db", db, "--label", "resnet18 znver3", "--uploader", "ana"]) == 0
    capsys.readouterr()
    assert main(["runs", "--db", db, "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    run = next(r for r in runs if r["label"] == "resnet18 znver3")
    out = tmp_path / "run.zip"
    assert main(["report", "--db", db, "--run", str(run["run_id"]), "--no-images", "--ask", "layer2.0.conv1_14=64",
                 "-o", str(out)]) == 0
    md = zipfile.ZipFile(out).read("report.md").decode()
    assert f"run {run['run_id']}: resnet18 znver3" in md and "`ana`" in md
    for name in ("resnet18.onnx", "tuning.log", "layout_transform.log"):
        assert hashlib.sha256((R18 / name).read_bytes()).hexdigest() in md
    assert "### `layer2.0.conv1_14`: why 64c→16c and not 64c" in md
    # the same layers and choices as the file form of the same files
    rc, files_zip = _report(tmp_path)
    other = zipfile.ZipFile(files_zip).read("report.md").decode()

    def layers(text):
        return text.split("## Layers", 1)[1].split("\n## ", 1)[0]

    assert rc == 0 and layers(md) == layers(other) and layers(md).count("| `") == 20
    assert main(["report", "--db", db, "--run", str(run["run_id"]), "--graph", str(R18 / "resnet18.onnx"),
                 "-o", str(out)]) == 2
