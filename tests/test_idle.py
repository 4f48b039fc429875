"""tvmviz.idle.Prefetcher: jobs run oldest first on one thread; a new list replaces the unstarted rest of
the same owner's old one; cancelling drops only that owner's jobs; a failing job does not stop the rest."""

from __future__ import annotations

import threading

from tvmviz.idle import Prefetcher


def _recorder(ran: list, name: str):
    def job():
        ran.append(name)
    return job


def _blocking(ran: list, name: str) -> tuple:
    """A job that runs until released, and the event that says it has started."""
    started, release = threading.Event(), threading.Event()

    def job():
        started.set()
        assert release.wait(10)
        ran.append(name)
    return job, started, release


def test_jobs_run_in_order():
    ran: list = []
    p = Prefetcher()
    p.replace("a", [_recorder(ran, n) for n in "xyz"])
    assert p.wait_idle(10)
    assert ran == ["x", "y", "z"]


def test_a_new_list_replaces_the_unstarted_rest_of_the_owners_old_one():
    ran: list = []
    job, started, release = _blocking(ran, "started")
    p = Prefetcher()
    p.replace("a", [job, _recorder(ran, "stale1"), _recorder(ran, "stale2")])
    assert started.wait(10)
    p.replace("b", [_recorder(ran, "other")])
    p.replace("a", [_recorder(ran, "new")])  # the user moved on while "started" runs
    release.set()
    assert p.wait_idle(10)
    assert ran == ["started", "other", "new"]


def test_cancel_drops_only_that_owners_jobs():
    ran: list = []
    job, started, release = _blocking(ran, "started")
    p = Prefetcher()
    p.replace("a", [job, _recorder(ran, "a2")])
    assert started.wait(10)
    p.replace("b", [_recorder(ran, "b1")])
    p.cancel("a")
    release.set()
    assert p.wait_idle(10)
    assert ran == ["started", "b1"]


def test_a_failing_job_does_not_stop_the_others():
    ran: list = []
    p = Prefetcher()

    def fails():
        raise ValueError("no solution")

    p.replace("a", [fails, _recorder(ran, "after")])
    assert p.wait_idle(10)
    assert ran == ["after"]
