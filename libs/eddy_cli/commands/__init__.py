"""eddy's subcommands, one module each; every module exposes `command`.

To add a subcommand, write `eddy_cli/commands/<name>.py` with a click command
named `command` and list the module here.
"""

from __future__ import annotations

import importlib

import click

COMMANDS = (
    "install",
    "uninstall",
    "check",
    "why",
    "push",
    "bootstrap",
    "plan",
    "dashboard",
)


def load_commands() -> list[tuple[str, click.Command]]:
    """(name, command) of each subcommand; the module's name is the command's."""
    found: list[tuple[str, click.Command]] = []
    for name in COMMANDS:
        module = importlib.import_module(f"{__name__}.{name}")
        found.append((name, module.command))
    return found
