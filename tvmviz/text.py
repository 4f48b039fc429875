"""User text (file, node and upload names, labels, targets) shown as text, never as markup or
terminal control: for Markdown reports and pages, and for the command line."""

from __future__ import annotations

import re

# Markdown's and Streamlit's markup characters (links, images, emphasis, headings, tables, code,
# :color[...] directives, $math$); an underscore only where it could open or close emphasis (not
# inside a name like conv1_14); HTML's are written as entities.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*{}\[\]#!|~$]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def markdown_text(value) -> str:
    """``value`` as literal Markdown text on one line: no HTML, link, image, heading or table break."""
    text = strip_controls(str(value)).replace("\r", " ").replace("\n", " ").replace("\t", " ")
    text = "".join(_HTML.get(c, c) for c in text)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def strip_controls(value) -> str:
    """``value`` without control characters (terminal escapes, bidi overrides); newlines and tabs kept."""
    return _CONTROL.sub("", str(value))
