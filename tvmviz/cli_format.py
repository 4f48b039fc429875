"""How every ``python -m tvmviz`` subcommand's help looks: defaults shown, one worked example each."""

from __future__ import annotations

import argparse


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
