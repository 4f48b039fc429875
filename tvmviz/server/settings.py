"""A team server's settings that pages read: where measuring runs (TVM's RPC tracker and device key).

``tvmviz serve --rpc-tracker HOST:PORT --rpc-key KEY`` sets them; the process passes them to its pages in its
environment ($TVMVIZ_RPC_TRACKER, $TVMVIZ_RPC_KEY), the same variables a local dashboard takes as defaults.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from tvmviz.errors import TvmvizError

RPC_TRACKER_ENV, RPC_KEY_ENV = "TVMVIZ_RPC_TRACKER", "TVMVIZ_RPC_KEY"


@dataclass(frozen=True)
class RpcSetting:
    tracker: str = ""  # HOST:PORT, or "" to measure on the server itself
    key: str = ""

    @classmethod
    def of(cls, tracker: str | None, key: str | None) -> "RpcSetting":
        from tvmviz.measure.rpc import parse_tracker

        if key and not tracker:
            raise TvmvizError("--rpc-key needs --rpc-tracker HOST:PORT")
        if tracker:
            parse_tracker(tracker)  # a clear error now, not on the first measure
        return cls((tracker or "").strip(), (key or "").strip())

    @classmethod
    def from_env(cls) -> "RpcSetting":
        return cls(os.environ.get(RPC_TRACKER_ENV, "").strip(), os.environ.get(RPC_KEY_ENV, "").strip())

    def export(self) -> None:
        os.environ[RPC_TRACKER_ENV], os.environ[RPC_KEY_ENV] = self.tracker, self.key
