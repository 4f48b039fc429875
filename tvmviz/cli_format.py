"""How every ``python -m tvmviz`` subcommand's help looks: defaults shown, one worked example each."""

from __future__ import annotations

import argparse
import sys


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Examples keep their line breaks; every option with a default says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if (default not in (None, False, [], argparse.SUPPRESS) and "default" not in text
                and action.option_strings and action.nargs != 0):
            text += f" (default: {default})"
        return text


def example(text: str) -> dict:
    """``add_parser`` keyword arguments for a subcommand: its worked example and the project's formatter."""
    return {"epilog": "example:\n  " + text.strip().replace("\n", "\n  "), "formatter_class": HelpFormatter}


class ProgressBar:
    """A tqdm bar on stderr driven by progress(done, total, label) callbacks; off when ``quiet`` or when
    stderr is no terminal."""

    def __init__(self, desc: str | None = None, unit: str = "it", quiet: bool = False):
        from tqdm import tqdm

        self.bar = tqdm(desc=desc, unit=unit, disable=True if quiet else None, file=sys.stderr, dynamic_ncols=True)

    def __call__(self, done: int, total: int, label: str = "") -> None:
        self.bar.total = total
        self.bar.n = done
        self.bar.set_postfix_str(label[-48:], refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()
