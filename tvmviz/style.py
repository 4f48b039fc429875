"""tvmviz's visual language (docs/style.md): one layout notation, one colour per x, red only for problems,
milliseconds with sensible digits. Charts, pages, explanations and the report all spell things through
these functions, so a layout reads the same everywhere and 16c is the same blue in every run.
"""

from __future__ import annotations

import math
import zlib

# ---- layout notation --------------------------------------------------------------------------------

ARROW = "→"


def layout(x: int) -> str:
    """The full name of a blocked layout: NCHW16c."""
    return f"NCHW{int(x)}c"


def short(x: int) -> str:
    """Its short form: 16c."""
    return f"{int(x)}c"


def pair(src: int, dst: int) -> str:
    """From one layout to another, short form: '32c→16c' (a transform, or a conv reading 32c and writing 16c);
    a conv that reads and writes the same layout is just '16c'."""
    return short(src) if int(src) == int(dst) else f"{short(src)}{ARROW}{short(dst)}"


def block_of(layout_name: str) -> int | None:
    """16 for 'NCHW16c' (None for a layout without a channel block)."""
    if layout_name.startswith("NCHW") and layout_name.endswith("c") and layout_name[4:-1].isdigit():
        return int(layout_name[4:-1])
    return None


def transform(src_layout: str, dst_layout: str) -> str:
    """A transform between two layout names in the short form: 'NCHW32c', 'NCHW16c' -> '32c→16c'."""
    a, b = block_of(src_layout), block_of(dst_layout)
    if a is None or b is None:
        return f"{src_layout}{ARROW}{dst_layout}"
    return f"{short(a)}{ARROW}{short(b)}"


def transform_of(src_layout: str, dst_layout: str, shape, dtype: str) -> str:
    """One layout_transform in words: '64c→16c of [1, 1, 56, 56, 64] float32'."""
    return f"{transform(src_layout, dst_layout)} of {list(shape)} {dtype}"


# ---- colours ----------------------------------------------------------------------------------------

PROBLEM = "#c62828"  # red: only for problems (missing costs, failures, slower than tuned, a worse total)
GOOD = "#2e7d32"  # a saving
NEUTRAL = "#616161"  # no change, other ops, text on light cells
TRANSFORM = "#37474f"  # a transform the tuner pays for (a cost, not a problem)
MUTED = "#bdbdbd"  # other ops, never-tried cells
FAILED_CELL = "#fbe3e3"  # a search-space cell whose every trial failed (light red: a problem, text stays dark)
CHANGED = "#000000"  # ring around a layer a scenario changed
TEXT_DARK, TEXT_LIGHT = "#1a1a1a", "#ffffff"

# One colour per x, the same in every run and page: a colour-blind-safe set (Okabe-Ito and Tol) with no red.
X_COLORS = {
    1: "#f0e442", 2: "#999933", 3: "#8c6d31", 4: "#56b4e9", 8: "#009e73", 16: "#0072b2", 32: "#e69f00",
    64: "#cc79a7", 128: "#332288", 256: "#44aa99", 512: "#117733",
}
_EXTRA = ("#88ccee", "#ddcc77", "#aa4499", "#6699cc", "#997700", "#4b0092", "#1a85ff", "#5d3a9b")


def x_color(x: int) -> str:
    """The colour of x; an x outside the usual set gets one from a spare list, fixed by x alone."""
    x = int(x)
    if x in X_COLORS:
        return X_COLORS[x]
    return _EXTRA[zlib.crc32(str(x).encode()) % len(_EXTRA)]


def x_scale(values) -> tuple[list, list]:
    """(domain, range) for an Altair colour scale over these x values, sorted, each in its own colour."""
    domain = sorted({int(v) for v in values})
    return domain, [x_color(v) for v in domain]


def _luminance(hex_color: str) -> float:
    r, g, b = (int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5))

    def lin(c):
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two '#rrggbb' colours (1..21)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_on(background: str) -> str:
    """Dark or white text, whichever reads better on this background."""
    return TEXT_DARK if contrast(background, TEXT_DARK) >= contrast(background, TEXT_LIGHT) else TEXT_LIGHT


# ---- numbers ----------------------------------------------------------------------------------------

D3_MS = ",.3~r"  # Altair / d3 format of a millisecond value: three significant digits, no exponent
D3_RATIO = ".2f"


def ms_value(seconds: float | None) -> str:
    """Milliseconds with three significant digits and no exponent: 0.00432, 0.278, 12.3, 1,234."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
    v = float(seconds) * 1e3
    if v == 0:
        return "0"
    if abs(v) >= 1e4:
        return f"{v:,.0f}"
    digits = max(0, 2 - int(math.floor(math.log10(abs(v)))))
    text = f"{v:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def ms(seconds: float | None) -> str:
    """'0.278 ms'; '–' when unknown; failed trials' 1e9 s shows as 'failed (1e9 s)'."""
    if seconds is not None and seconds >= 1e8:
        return f"failed ({seconds:.0e} s)"
    text = ms_value(seconds)
    return text if text == "–" else f"{text} ms"


def ms_delta(seconds: float | None, tolerance_s: float = 5e-10) -> str:
    """A signed change: '+0.123 ms', '−0.04 ms', 'no change' when |change| is below 0.5 ns."""
    if seconds is None:
        return "–"
    if abs(seconds) <= tolerance_s:
        return "no change"
    sign = "+" if seconds > 0 else "−"
    return f"{sign}{ms_value(abs(seconds))} ms"
