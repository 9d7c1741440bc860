"""Every command and group ends its --help with one runnable example, and the example parses.

The form, as the last paragraph of the help (click's `\\b` keeps the line from rewrapping):

    Example:

    \\b
        mailer send --issue today --yes
"""

from __future__ import annotations

import inspect
import re
import shlex
from collections.abc import Iterator

import click
import pytest

from mailer.cli import cli
from tests.cli.test_cli import mailer

EXAMPLE = re.compile(r"\n\nExample:\n\n\x08\n    (?P<line>mailer [^\n]+)\Z")
SHELL_REDIRECTS = ("<", ">", "|")  # the shell's, not the command's (an example may read stdin)


def walk(
    command: click.Command, path: tuple[str, ...] = ("mailer",)
) -> Iterator[tuple[str, click.Command]]:
    """(command path, command) for `command` and every command under it, depth first."""
    yield " ".join(path), command
    if isinstance(command, click.Group):
        ctx = click.Context(command, info_name=path[-1])
        for name in command.list_commands(ctx):
            yield from walk(command.get_command(ctx, name), (*path, name))


COMMANDS = dict(walk(cli))


def example_of(command: click.Command) -> str:
    text = inspect.cleandoc(command.help or "")  # as click shows it: the docstring's indent removed
    found = EXAMPLE.search(text)
    assert found, f"the help does not end with 'Example:', \\b and one indented command:\n{text}"
    return found["line"]


def arguments(example: str) -> list[str]:
    """The example's arguments after `mailer`, up to a shell redirection."""
    words = shlex.split(example)[1:]
    cut = next((i for i, word in enumerate(words) if word in SHELL_REDIRECTS), len(words))
    return words[:cut]


def leaf_context(args: list[str]) -> click.Context:
    """`args` parsed as `mailer` would parse them, group by group, down to the command that would
    run (no callback runs); a click.UsageError when they do not parse."""
    command: click.Command = cli
    name, ctx, rest = "mailer", None, args
    while True:
        ctx = command.make_context(name, list(rest), parent=ctx)
        if not isinstance(command, click.Group):
            return ctx
        # A group keeps its subcommand's arguments in ctx.args; the word before them names it.
        subcommand = rest[len(rest) - len(ctx.args) - 1]
        name, command, rest = command.resolve_command(ctx, [subcommand, *ctx.args])


def test_the_walk_finds_every_command():
    assert {
        "mailer",
        "mailer send",
        "mailer db upgrade",
        "mailer subscribers import",
        "mailer trending fetch",
        "mailer issue new",
        "mailer serve",
    } <= set(COMMANDS)


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_help_ends_with_an_example_of_the_command_that_parses(path):
    command = COMMANDS[path]
    example = example_of(command)
    assert example == path or example.startswith(f"{path} "), f"{path}: another command: {example}"
    try:
        leaf = leaf_context(arguments(example))
    except click.UsageError as exc:
        pytest.fail(f"{path}: the example {example!r} does not parse: {exc.format_message()}")
    assert leaf.command_path.startswith(path), (path, leaf.command_path)
    if not isinstance(command, click.Group):
        assert leaf.command is command


def test_a_group_help_prints_its_example(tmp_path):
    result = mailer(tmp_path, "subscribers", "--help")
    assert result.returncode == 0, result.stderr
    assert "\n  Example:\n\n      mailer subscribers import " in result.stdout, result.stdout
