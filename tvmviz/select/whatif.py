"""What-if scenarios: pins, exclusions, scaled or profiled costs, max_sch_num, solver; the result
carries its diff against a baseline. A Scenario travels in URLs as a short string."""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass, field, replace

from tvmviz.errors import TvmvizError
from tvmviz.select.api import Selection, select
from tvmviz.select.options import SelectOptions

_PREFIX = "s1"
# Limits of a scenario read from a link, checked before the work: a real one is a few hundred bytes.
MAX_LINK_CHARS = 16 * 1024
MAX_SCENARIO_BYTES = 256 * 1024
MAX_SCENARIO_DEPTH = 4  # {"o": {node: {"8x16": seconds}}} is 3


@dataclass(frozen=True)
class Scenario:
    pins: dict = field(default_factory=dict)  # node -> (ic_bn, oc_bn) | x
    exclude_x: frozenset = frozenset()
    transform_scale: float = 1.0
    kernel_scale: dict = field(default_factory=dict)  # node -> factor
    kernel_override: dict = field(default_factory=dict)  # node -> {(ic_bn, oc_bn): seconds}
    max_sch_num: int | None = None  # None: keep the baseline's
    solver: str | None = None
    cost_model: str | None = None

    def options(self, base: SelectOptions | None = None) -> SelectOptions:
        base = base or SelectOptions()
        return replace(
            base,
            pins={**base.pins, **self.pins},
            exclude_x=frozenset(base.exclude_x) | frozenset(self.exclude_x),
            transform_scale=base.transform_scale * self.transform_scale,
            kernel_scale={**base.kernel_scale, **self.kernel_scale},
            kernel_override={**base.kernel_override, **self.kernel_override},
            max_sch_num=self.max_sch_num if self.max_sch_num is not None else base.max_sch_num,
            solver=self.solver or base.solver,
            cost_model=self.cost_model or base.cost_model,
        )

    def to_json(self) -> dict:
        out: dict = {}
        if self.pins:
            out["p"] = {k: list(v) if isinstance(v, (tuple, list)) else int(v) for k, v in self.pins.items()}
        if self.exclude_x:
            out["x"] = sorted(int(x) for x in self.exclude_x)
        if self.transform_scale != 1.0:
            out["t"] = float(self.transform_scale)
        if self.kernel_scale:
            out["k"] = {k: float(v) for k, v in self.kernel_scale.items()}
        if self.kernel_override:
            out["o"] = {n: {f"{a}x{b}": float(s) for (a, b), s in ((_pair(k), s) for k, s in d.items())}
                        for n, d in self.kernel_override.items()}
        if self.max_sch_num is not None:
            out["n"] = int(self.max_sch_num)
        if self.solver:
            out["s"] = self.solver
        if self.cost_model:
            out["c"] = self.cost_model
        return out

    @classmethod
    def from_json(cls, d: dict) -> "Scenario":
        if not isinstance(d, dict):
            raise TvmvizError("scenario: expected an object")
        try:
            pins = {str(k): (int(v[0]), int(v[1])) if isinstance(v, list) else int(v) for k, v in d.get("p", {}).items()}
            overrides = {str(n): {_pair(k): float(s) for k, s in m.items()} for n, m in d.get("o", {}).items()}
            return cls(
                pins=pins,
                exclude_x=frozenset(int(x) for x in d.get("x", [])),
                transform_scale=float(d.get("t", 1.0)),
                kernel_scale={str(k): float(v) for k, v in d.get("k", {}).items()},
                kernel_override=overrides,
                max_sch_num=int(d["n"]) if "n" in d else None,
                solver=str(d["s"]) if "s" in d else None,
                cost_model=str(d["c"]) if "c" in d else None,
            )
        except (TypeError, ValueError, AttributeError, IndexError, KeyError) as e:
            raise TvmvizError(f"scenario: malformed field ({e})") from None

    def describe(self) -> list[str]:
        """The scenario in words, one change per item: 'pin layer1.0.conv1_4 to 64c→16c', 'exclude NCHW32c'."""
        from tvmviz import style

        out = [f"pin {k} to " + (style.pair(*v) if isinstance(v, (tuple, list)) else f"any candidate writing "
                                 f"{style.layout(v)}") for k, v in sorted(self.pins.items())]
        out += [f"exclude {style.layout(x)} (no candidate reads or writes it)" for x in sorted(self.exclude_x)]
        if self.transform_scale != 1.0:
            out.append(f"every layout-transform cost ×{self.transform_scale:g}")
        scales = dict(self.kernel_scale)
        common = set(scales.values())
        if scales and len(common) == 1 and len(scales) > 3:
            out.append(f"kernel costs ×{common.pop():g} for {len(scales)} layers")
        else:
            out += [f"{k}'s kernel costs ×{v:g}" for k, v in sorted(scales.items())]
        if self.kernel_override:
            out.append(f"profiled times price the built layout of {len(self.kernel_override)} layers: " +
                       ", ".join(sorted(self.kernel_override)[:6]) + (" …" if len(self.kernel_override) > 6 else ""))
        if self.max_sch_num is not None:
            out.append(f"keep {self.max_sch_num} candidates per layer (max_sch_num)")
        if self.solver:
            out.append(f"solver {self.solver}")
        if self.cost_model:
            out.append(f"cost model {self.cost_model}")
        return out

    def to_string(self) -> str:
        raw = json.dumps(self.to_json(), separators=(",", ":"), sort_keys=True).encode()
        return _PREFIX + base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")

    def link_code(self) -> str:
        """The code a link carries: the baseline (no change) has none."""
        return self.to_string() if self.to_json() else ""

    @classmethod
    def from_string(cls, text: str) -> "Scenario":
        """Decode a link's scenario; its size is checked before decompression and its nesting
        before parsing (a link is anyone's text)."""
        if not text.startswith(_PREFIX):
            raise TvmvizError("scenario: not a tvmviz scenario string")
        if len(text) > MAX_LINK_CHARS:
            raise TvmvizError(f"scenario: {len(text):,} characters, over the {MAX_LINK_CHARS:,}-character limit of a link")
        body = text[len(_PREFIX):]
        try:
            packed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            inflater = zlib.decompressobj()
            raw = inflater.decompress(packed, MAX_SCENARIO_BYTES + 1)
            if len(raw) > MAX_SCENARIO_BYTES or inflater.unconsumed_tail:
                raise TvmvizError(f"scenario: decompresses to over the {MAX_SCENARIO_BYTES:,}-byte limit")
            depth = _nesting(raw)
            if depth > MAX_SCENARIO_DEPTH:
                raise TvmvizError(f"scenario: nested {depth} deep, over the limit of {MAX_SCENARIO_DEPTH}")
            data = json.loads(raw)
        except (ValueError, zlib.error) as e:
            raise TvmvizError(f"scenario: cannot decode ({e})") from None
        return cls.from_json(data)


def _nesting(raw: bytes) -> int:
    """Deepest [ / { nesting of a JSON text, brackets inside strings not counted."""
    depth = deepest = 0
    in_string = escaped = False
    for c in raw:
        if in_string:
            if escaped:
                escaped = False
            elif c == 0x5C:  # backslash
                escaped = True
            elif c == 0x22:
                in_string = False
        elif c == 0x22:
            in_string = True
        elif c in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif c in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _pair(k) -> tuple[int, int]:
    if isinstance(k, str):
        a, b = k.lower().split("x")
        return int(a), int(b)
    return int(k[0]), int(k[1])


@dataclass(frozen=True)
class NodeChange:
    name: str
    before: tuple  # (ic_bn, oc_bn)
    after: tuple
    kernel_before_s: float
    kernel_after_s: float


@dataclass(frozen=True)
class SelectionDiff:
    changed: tuple  # NodeChange, TVM order
    total_before_s: float
    total_after_s: float

    @property
    def delta_s(self) -> float:
        return self.total_after_s - self.total_before_s

    @property
    def x_changed(self) -> tuple:
        """Names of the nodes whose layouts changed."""
        return tuple(c.name for c in self.changed)


@dataclass
class WhatIfResult:
    scenario: Scenario
    selection: Selection
    baseline: Selection | None
    diff: SelectionDiff | None


def diff_selections(before: Selection, after: Selection) -> SelectionDiff:
    prev = {n.name: n for n in before.nodes}
    changed = []
    for n in after.nodes:
        b = prev.get(n.name)
        if b is None or (b.ic_bn, b.oc_bn) != (n.ic_bn, n.oc_bn):
            changed.append(NodeChange(n.name, (b.ic_bn, b.oc_bn) if b else (None, None), (n.ic_bn, n.oc_bn),
                                      b.kernel_cost_s if b else float("nan"), n.kernel_cost_s))
    return SelectionDiff(tuple(changed), before.total_cost_s, after.total_cost_s)


def run_scenario(graph, tuning: list, transforms: list, scenario: Scenario, base: SelectOptions | None = None,
                 baseline: Selection | None = None) -> WhatIfResult:
    """Select under the scenario; the baseline (given, or solved with ``base``) gives the diff."""
    base = base or SelectOptions()
    if baseline is None:
        baseline = select(graph, tuning, transforms, base)
    sel = select(graph, tuning, transforms, scenario.options(base))
    return WhatIfResult(scenario, sel, baseline, diff_selections(baseline, sel))
