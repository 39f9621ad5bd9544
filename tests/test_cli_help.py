"""Every option of the `kinerja` command says what it means and, where it has one, its default."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from kinerja.cli import _all_parsers, _parser


def test_every_option_and_argument_has_help():
    missing = []
    for parser in _all_parsers(_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            if not (action.help or "").strip():
                missing.append(f"{parser.prog} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


def test_help_states_the_defaults():
    shown = subprocess.run(
        [sys.executable, "-m", "kinerja.cli", "simulate", "zk", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "200"},  # no wrapping inside a default
    ).stdout
    text = " ".join(shown.split())
    for expected in (
        "address to listen on (default: 127.0.0.1)",
        "(default: 4370)",
        "(default: SIM-ZK-0001)",
        "communication password (0: none) (default: 0)",
    ):
        assert expected in text, expected
    assert "(default: None)" not in text and "(default: False)" not in text
