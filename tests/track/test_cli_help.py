"""The track and suppressions commands: `--help` ends with one runnable example, and the example's
arguments parse (click builds the command's context from them without running it)."""

from __future__ import annotations

import shlex

import click
import pytest
from click.testing import CliRunner

from mailer.cli import cli

COMMANDS = [
    ("events",),
    ("events", "poll"),
    ("report",),
    ("reconcile",),
    ("suppressions",),
    ("suppressions", "list"),
    ("suppressions", "add"),
    ("suppressions", "remove"),
]


def example_of(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    description = result.output.split("\nOptions:")[0].rstrip().split("\n\n")
    assert description[-2].strip() == "Example:", result.output
    example = description[-1].strip()
    assert "\n" not in example and example.startswith(f"mailer {' '.join(path)}"), result.output
    return example


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_help_ends_with_an_example_that_parses(path):
    words = shlex.split(example_of(path))[1:]
    command: click.Command = cli
    parent, names = None, []
    while isinstance(command, click.Group) and words and words[0] in command.commands:
        parent = click.Context(command, info_name=command.name, parent=parent)
        command, words = command.commands[words[0]], words[1:]
        names.append(command.name)
    assert tuple(names[: len(path)]) == path  # a group's example runs one of its commands
    command.make_context(
        command.name, words, parent=parent
    )  # raises on an unknown option or argument
