"""Work that should take only the CPU the user's own requests leave idle: a lower thread priority, and a
prefetcher that computes what a user is likely to ask for next."""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from collections import deque
from typing import Callable, Hashable


def in_idle_time() -> None:
    """Lower this thread's priority (Linux: per thread), so it yields the CPU to the threads serving requests."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


class Prefetcher:
    """One low-priority thread working through the jobs it is given, oldest first. Each owner (a user's
    session) has at most one list pending: a new list replaces the unstarted rest of its old one, since the
    user has moved on. A job is a callable whose result lands in a cache of its own; this class keeps nothing,
    and a job that fails is dropped (the user's own request for it reports the error)."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._jobs: deque = deque()  # (owner, job)
        self._running = False
        self._thread: threading.Thread | None = None

    def replace(self, owner: Hashable, jobs: list[Callable[[], object]]) -> None:
        with self._lock:
            self._drop(owner)
            self._jobs.extend((owner, job) for job in jobs)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="tvmviz-prefetch", daemon=True)
                self._thread.start()
                atexit.register(self._stop)
            self._lock.notify_all()

    def cancel(self, owner: Hashable) -> None:
        """Drop the owner's unstarted jobs: its request comes first (a job already started runs to its end)."""
        with self._lock:
            self._drop(owner)

    def wait_idle(self, timeout_s: float) -> bool:
        """True once no job is pending or running (within ``timeout_s``)."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._jobs and not self._running, timeout_s)

    def _stop(self) -> None:
        """At exit: no new job, and the running one ends first (a daemon thread frozen mid-job would hold its
        database cursors past the interpreter)."""
        with self._lock:
            self._jobs.clear()
        self.wait_idle(5.0)

    def _drop(self, owner: Hashable) -> None:
        kept = [item for item in self._jobs if item[0] != owner]
        self._jobs.clear()
        self._jobs.extend(kept)

    def _work(self) -> None:
        in_idle_time()
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._jobs)
                _, job = self._jobs.popleft()
                self._running = True
            try:
                job()
            except Exception:  # noqa: BLE001 - see the class docstring
                pass
            finally:
                del job  # nothing of it outlives the job
                with self._lock:
                    self._running = False
                    self._lock.notify_all()
