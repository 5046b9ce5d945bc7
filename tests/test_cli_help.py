"""Every subcommand's --help reads as written: argparse expands `%` in help texts, and a stray one
(`CPU % says`) once printed the option's internals in place of its help."""
from __future__ import annotations

import argparse

from antiphon.cli import build_parser


def _parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_every_help_text_formats_as_written():
    helps = [p.format_help() for p in _parsers(build_parser())]
    assert len(helps) >= 8  # the top level, serve, talk, cluster, demo, train, eval, bench
    for text in helps:
        assert "option_strings" not in text and "%(" not in text, text
