"""A run-plan call in its own process, for the dashboard: building and timing plans takes a minute of
both cores, and TVM's compiler holds the GIL, so in the server's process it would stall every session
(and a rerun of the page would cut it short). ``PlanJob`` starts ``python -m tvmviz.build.job`` on a stored
run (read from a snapshot while the server holds the database), follows its progress and returns its
RunReport JSON; the caller stores the result.

The child prints one JSON object a line: {"progress": [done, total, label]} while it works, then
{"report": RunReport JSON} or {"error": text}.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class JobRequest:
    db: str
    run_id: int
    specs: list
    threads: int
    repeat: int
    estimate_transforms: bool = False
    cost_sources: list = field(default_factory=list)


class PlanJob:
    """One run_plans call in a child process; thread-safe to read from any session."""

    def __init__(self, request: JobRequest):
        self.request = request
        self.progress = (0, 1, "starting TVM")
        self.report: dict | None = None
        self.error: str | None = None
        self.stored: list | None = None  # upload ids, once a session has stored the result
        self.lock = threading.Lock()
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # where tvmviz/ is
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
        self._proc = subprocess.Popen([sys.executable, "-m", "tvmviz.build.job"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        self._proc.stdin.write(json.dumps(asdict(request)))
        self._proc.stdin.close()
        self._stderr: list = []
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read_stderr(self) -> None:
        for line in self._proc.stderr:
            self._stderr = (self._stderr + [line.rstrip()])[-20:]

    def _read(self) -> None:
        for line in self._proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if "progress" in msg:
                self.progress = tuple(msg["progress"])
            elif "report" in msg:
                self.report = msg["report"]
            elif "error" in msg:
                self.error = msg["error"]
        code = self._proc.wait()
        if self.report is None and self.error is None:
            tail = [t for t in self._stderr if t.strip()]
            self.error = (f"the build process ended with exit code {code}"
                          + (f": {tail[-1]}" if tail else " and no message (killed, or TVM crashed)"))

    @property
    def running(self) -> bool:
        return self._reader.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        self._reader.join(timeout)
        return not self.running

    def cancel(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()


def _say(**msg) -> None:
    print(json.dumps(msg), flush=True)


def main() -> int:
    from tvmviz.build.cli import stored_run_inputs
    from tvmviz.build.plans import make_plans
    from tvmviz.build.run import allow_all_cores, run_plans
    from tvmviz.errors import TvmvizError

    allow_all_cores()  # before TVM's thread pool starts
    request = JobRequest(**json.loads(sys.stdin.read()))
    model = None
    try:
        _say(progress=[0, 1, "reading the run"])
        model, graph, tuning, transforms = stored_run_inputs(request.db, request.run_id, request.cost_sources)
        plans = make_plans(graph, tuning, transforms, list(request.specs), request.estimate_transforms)
        report = run_plans(model, graph, plans, threads=request.threads, repeat=request.repeat,
                           progress=lambda done, total, label: _say(progress=[done, total, label]))
    except TvmvizError as e:
        _say(error=str(e))
        return 2
    finally:
        if model:
            os.unlink(model)
    _say(report=report.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
