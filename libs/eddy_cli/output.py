"""What the command prints: progress on stderr, results on stdout, data as JSON or YAML.

Progress lines go to stderr so that stdout stays parseable (`--output json`,
`--export`) even while a long step reports what it is doing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click
import yaml
from click.decorators import FC

FORMATS = ("text", "json", "yaml")


def step(message: str) -> None:
    """A long step is starting."""
    click.echo(f"► {message}", err=True)


def waiting(message: str) -> None:
    click.echo(f"◎ {message}", err=True)


def success(message: str) -> None:
    click.echo(f"✔ {message}", err=True)


def failure(message: str) -> None:
    click.echo(f"✗ {message}", err=True)


def data(value: Any, fmt: str) -> None:
    """Print `value` to stdout as JSON or YAML."""
    if fmt == "json":
        click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))
    else:
        click.echo(yaml.safe_dump(value, sort_keys=False, default_flow_style=False), nl=False)


def output_option(default: str = "text") -> Callable[[FC], FC]:
    """`-o/--output text|json|yaml` for a command whose result is data."""
    return click.option(
        "-o",
        "--output",
        "output",
        type=click.Choice(FORMATS),
        default=default,
        show_default=True,
        help="Print the result as text, or as data in JSON or YAML.",
    )
