"""``python -m tvmviz measure``: fill in missing costs by measuring on this machine with TVM."""

from __future__ import annotations

import argparse
import json
import re
import time

from tvmviz.cli_format import ProgressBar, example
from tvmviz.errors import TvmvizError

DEFAULT_OUT = "tvmviz_measured.log"


def add_parsers(subparsers) -> None:
    p = subparsers.add_parser(
        "measure", help="measure layout transforms and conv2d candidates on this CPU with TVM, as AutoTVM records",
        **example("python -m tvmviz measure --graph sample_logs/resnet18/resnet18.onnx --tuning-log sample_logs/resnet18/tuning.log \\\n"
                  "    --transform-log sample_logs/resnet18/layout_transform.log --transforms missing --kernels 16 --out measured.log\n"
                  "python -m tvmviz measure --graph sample_logs/resnet18/resnet18.onnx --tuning-log sample_logs/resnet18/tuning.log \\\n"
                  "    --kernels 16 --nodes conv1_1 --rpc-tracker 127.0.0.1:9190 --rpc-key rpi4   # on an RPC device"))
    p.add_argument("--graph", required=True, metavar="MODEL", help="ONNX, graph-executor JSON or tvmviz graph JSON")
    p.add_argument("--tuning-log", action="append", default=[], metavar="LOG",
                   help="AutoTVM records: the candidates whose transforms are needed (repeatable)")
    p.add_argument("--transform-log", action="append", default=[], metavar="LOG",
                   help="layout_transform records already measured (repeatable)")
    p.add_argument("--transforms", choices=("missing", "all", "none"), default="missing",
                   help="which needed transforms to measure: those without a record, all, none")
    p.add_argument("--kernels", metavar="X,...",
                   help="measure conv candidates: block sizes X (every ic_bn, oc_bn in the list that divides "
                        "the channels) and/or explicit pairs ICxOC, e.g. 16,32 or 8x16")
    p.add_argument("--nodes", metavar="NAME,...", help="only these conv nodes for --kernels (default: every conv)")
    p.add_argument("--trials", type=int, default=8, metavar="N",
                   help="schedules swept per (workload, ic_bn, oc_bn)")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="LOG", help=f"AutoTVM log to write (default {DEFAULT_OUT})")
    p.add_argument("--append", action="store_true", help="append to --out instead of replacing it")
    p.add_argument("--cost-model", choices=("tvm", "true"), default="tvm",
                   help="which transform keys are needed: TVM's graph-tuner keys or the real tensor shapes")
    p.add_argument("--max-sch-num", type=int, default=20, help="candidates kept per workload (as the graph tuner)")
    p.add_argument("--target", help='TVM target (JSON, e.g. {"kind":"llvm","mcpu":"znver3"}); default: this CPU, '
                                    "or with --rpc-tracker the device's own -mtriple/-mcpu")
    p.add_argument("--rpc-tracker", metavar="HOST:PORT",
                   help="measure on a device registered with TVM's RPC tracker (python -m tvm.exec.rpc_tracker), "
                        "built here for its target, as AutoTVM's RPCRunner does; default: measure here")
    p.add_argument("--rpc-key", metavar="KEY", help="the device key its rpc_server registered with (--key)")
    p.add_argument("--rpc-timeout", type=float, default=10.0, metavar="S",
                   help="seconds to reach the tracker and to get a free device (default 10)")
    p.add_argument("--json", action="store_true", help="print a JSON summary instead of text")
    p.set_defaults(func=cmd_measure)


def parse_kernels(text: str) -> tuple[list[int], list[tuple[int, int]]]:
    """``16,32,8x16`` -> ([16, 32], [(8, 16)])."""
    xs, pairs = [], []
    for token in (t.strip() for t in text.split(",")):
        if not token:
            continue
        m = re.fullmatch(r"(\d+)\s*[xX]\s*(\d+)", token)
        if m and int(m.group(1)) > 0 and int(m.group(2)) > 0:
            pairs.append((int(m.group(1)), int(m.group(2))))
        elif token.isdigit() and int(token) > 0:
            xs.append(int(token))
        else:
            raise TvmvizError(f"--kernels: {token!r} is neither a block size X nor a pair ICxOC (e.g. 16 or 8x16)")
    if not xs and not pairs:
        raise TvmvizError("--kernels: give at least one block size or ICxOC pair")
    return xs, pairs


def _blocks(channels: int, xs: list[int]) -> list[int]:
    """The sizes in xs that divide ``channels``; if none does, the largest divisor not above max(xs)."""
    fit = [x for x in xs if channels % x == 0]
    if fit or not xs:
        return fit
    return [max(d for d in range(1, min(channels, max(xs)) + 1) if channels % d == 0)]


def conv_tasks(graph, kernels: str, nodes: str | None = None) -> list:
    """One ConvTask per distinct (workload, ic_bn, oc_bn) the --kernels / --nodes options ask for."""
    from tvmviz.measure.conv import ConvTask

    xs, pairs = parse_kernels(kernels)
    convs = graph.convs()
    if nodes:
        wanted = [n.strip() for n in nodes.split(",") if n.strip()]
        names = {n.name for n in convs}
        unknown = [n for n in wanted if n not in names]
        if unknown:
            raise TvmvizError(f"--nodes: no conv2d named {', '.join(unknown)} in {graph.source or 'the graph'} "
                              f"(convs: {', '.join(sorted(names)[:8])}{', ...' if len(names) > 8 else ''})")
        convs = [n for n in convs if n.name in wanted]
    tasks: dict = {}
    for node in convs:
        attrs = node.conv
        if attrs.groups != 1:
            continue
        c, o = attrs.data_shape[1], attrs.kernel_shape[0]
        chosen = [(i, j) for i in _blocks(c, xs) for j in _blocks(o, xs)]
        chosen += [(i, j) for i, j in pairs if c % i == 0 and o % j == 0]
        for i, j in chosen:
            tasks.setdefault(ConvTask.of(attrs.workload(), i, j), None)
    if not tasks:
        raise TvmvizError(f"--kernels {kernels}: no conv2d in the graph has channels these block sizes divide")
    return list(tasks)


def _load_records(tuning_logs: list, transform_logs: list):
    from tvmviz.store import Store

    store = Store.open(":memory:")
    try:
        def ingest(paths):
            ids = []
            for report in store.ingest_paths(paths):
                if report.error:
                    raise TvmvizError(report.error)
                ids.append(report.upload_id)
            return ids

        tuning_ids = ingest(tuning_logs) if tuning_logs else []
        transform_ids = ingest(transform_logs) if transform_logs else []
        tuning = store.tuning_records(upload_ids=tuning_ids) if tuning_ids else []
        transforms = store.transform_records(upload_ids=transform_ids) if transform_ids else []
    finally:
        store.close()
    return tuning, transforms


def _parse_target(text: str | None):
    if not text:
        return None
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise TvmvizError(f"--target: not valid JSON ({e})") from None
    return text


def cmd_measure(args) -> int:
    from tvmviz.graph.load import load_graph
    from tvmviz.measure.rpc import open_device

    if args.trials < 1:
        raise TvmvizError(f"--trials must be at least 1, got {args.trials}")
    if not args.rpc_timeout > 0:
        raise TvmvizError(f"--rpc-timeout must be > 0, got {args.rpc_timeout}")
    graph = load_graph(args.graph)
    tuning, transforms = _load_records(args.tuning_log, args.transform_log)
    with open_device(args.rpc_tracker, args.rpc_key, _parse_target(args.target), args.rpc_timeout) as device:
        return _measure(args, graph, tuning, transforms, device)


def _measure(args, graph, tuning, transforms, device) -> int:
    from tvmviz.measure.conv import measure_convs
    from tvmviz.measure.keys import needed_transform_keys
    from tvmviz.measure.records import write_log
    from tvmviz.measure.timing import target_string, tvm_version
    from tvmviz.measure.transform import measure_transforms

    target = device.target
    summary: dict = {"target": target_string(target), "tvm_version": tvm_version(), "out": args.out,
                     "device": device.label}

    convs = []
    if args.kernels:
        tasks = conv_tasks(graph, args.kernels, args.nodes)
        bar = ProgressBar("conv2d candidates", args.json)
        t0 = time.perf_counter()
        try:
            convs = measure_convs(tasks, args.trials, progress=bar, device=device)
        finally:
            bar.close()
        summary["kernels"] = _conv_summary(convs, time.perf_counter() - t0)
        base = len(tuning)
        tuning = list(tuning) + [m.to_tuning_record(base + i, summary["target"]) for i, m in enumerate(convs)
                                 if m.error_no == 0]

    measured = []
    if args.transforms != "none":
        if not tuning:
            raise TvmvizError("--transforms needs candidates to know which layouts meet: give --tuning-log "
                              "(AutoTVM records of the model's convs) or --kernels, or use --transforms none")
        keys = needed_transform_keys(graph, tuning, transforms, only_missing=args.transforms == "missing",
                                     cost_model=args.cost_model, max_sch_num=args.max_sch_num)
        bar = ProgressBar("layout transforms", args.json)
        t0 = time.perf_counter()
        try:
            measured = measure_transforms(keys, progress=bar, device=device) if keys else []
        finally:
            bar.close()
        summary["transforms"] = _transform_summary(measured, time.perf_counter() - t0)

    if not convs and not measured:
        summary["written"] = 0
        _print(summary, args.json, "nothing to measure: every needed transform has a record"
               if args.transforms == "missing" else "nothing to measure")
        return 0
    summary["written"] = write_log(args.out, [*convs, *measured], target, append=args.append)
    _print(summary, args.json)
    return 0


def _conv_summary(convs, seconds: float) -> dict:
    best: dict = {}
    for m in convs:
        if m.error_no == 0:
            k = (json.dumps(m.workload), m.knobs.ic_bn, m.knobs.oc_bn)
            if k not in best or m.cost0 < best[k].cost0:
                best[k] = m
    return {
        "candidates": len(convs), "failed": sum(m.error_no != 0 for m in convs), "seconds": round(seconds, 2),
        "best": [{"workload": m.workload, "ic_bn": m.knobs.ic_bn, "oc_bn": m.knobs.oc_bn, "entity": m.knobs.entity(),
                  "cost_ms": m.cost0 * 1e3, "gflops": round(m.gflops, 1)} for m in best.values()],
    }


def _transform_summary(measured, seconds: float) -> dict:
    ok = [m for m in measured if m.error_no == 0]
    return {"measured": len(measured), "failed": len(measured) - len(ok), "seconds": round(seconds, 2),
            "total_ms": sum(m.cost0 for m in ok) * 1e3}


def _print(summary: dict, as_json: bool, note: str | None = None) -> None:
    if as_json:
        print(json.dumps({**summary, **({"note": note} if note else {})}, indent=1))
        return
    print(f"target {summary['target']} on {summary['device']} (TVM {summary['tvm_version']})")
    if "kernels" in summary:
        k = summary["kernels"]
        print(f"conv2d: {k['candidates']} candidates in {k['seconds']} s, {k['failed']} failed")
        per_workload: dict = {}
        for b in k["best"]:
            per_workload.setdefault(json.dumps(b["workload"]), []).append(b)
        for pairs in per_workload.values():
            _, data, kernel, *_ = pairs[0]["workload"]
            best = min(pairs, key=lambda b: b["cost_ms"])
            worst = max(pairs, key=lambda b: b["cost_ms"])
            spread = f", slowest {worst['ic_bn']}x{worst['oc_bn']} {worst['cost_ms']:.4f} ms" if len(pairs) > 1 else ""
            print(f"  {list(data[1])} * {list(kernel[1])}: {len(pairs)} (ic_bn x oc_bn), best "
                  f"{best['ic_bn']}x{best['oc_bn']} {best['cost_ms']:.4f} ms ({best['gflops']} GFLOPS){spread}")
    if "transforms" in summary:
        t = summary["transforms"]
        print(f"layout_transform: {t['measured']} measured in {t['seconds']} s, {t['failed']} failed, "
              f"sum of costs {t['total_ms']:.3f} ms")
    if note:
        print(note)
    if summary.get("written"):
        print(f"wrote {summary['written']} records to {summary['out']} (read them with: python -m tvmviz ingest "
              f"{summary['out']}, or pass as --tuning-log / --transform-log)")
