"""The `eddy` command group: global options, the subcommands, and how failures end.

Each subcommand lives in its own module under `eddy_cli.commands`; adding one is
a module with a `command` and a line in `commands.COMMANDS`.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from . import __version__
from .commands import load_commands
from .errors import ERROR, CliError, explain
from .kube import Settings
from .output import failure

EPILOG = """\b
Exit codes:
  0  success
  1  the answer is "no": check found a problem, plan found changes, why found
     an object eddy did not apply
  2  error: bad input, no cluster, or a server refused the request

\b
Shell completion (bash; zsh and fish likewise):
  eval "$(_EDDY_COMPLETE=bash_source eddy)"
"""


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="eddy")
@click.option(
    "--kubeconfig",
    envvar="EDDY_KUBECONFIG",
    default="",
    metavar="PATH",
    help="kubeconfig to use [default: $KUBECONFIG, else ~/.kube/config]",
)
@click.option("--context", default="", metavar="NAME", help="kubeconfig context to use.")
@click.option(
    "-n",
    "--namespace",
    default="flux-system",
    show_default=True,
    help="Namespace eddy is installed in (and of objects named without one).",
)
@click.pass_context
def cli(ctx: click.Context, kubeconfig: str, context: str, namespace: str) -> None:
    """eddy: install, bootstrap and check eddy; plan changes; ask why an object is there.

    The unmodified `flux` command reads and drives eddy's objects as well
    (get, reconcile, suspend, resume, events, tree).
    """
    ctx.obj = Settings(kubeconfig=kubeconfig, context=context, namespace=namespace)


for _name, _command in load_commands():
    cli.add_command(_command, _name)


def main(argv: list[str] | None = None) -> Any:
    """Run the command; errors become one line on stderr and a documented exit code."""
    try:
        code = cli.main(args=argv, prog_name="eddy", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.Abort:
        failure("aborted")
        sys.exit(ERROR)
    except click.ClickException as err:
        err.show()
        sys.exit(ERROR)
    except CliError as err:
        failure(err.message)
        sys.exit(err.code)
    except KeyboardInterrupt:
        failure("interrupted")
        sys.exit(130)
    except Exception as err:  # the last line of defence: one line, not a traceback
        failure(explain(err))
        sys.exit(ERROR)
    sys.exit(code if isinstance(code, int) else 0)
