"""The helm-controller process: `helm-controller` or `python -m helm_controller`.

Shared flags come from the runtime; this adds the ones only this controller has.
"""

from __future__ import annotations

import argparse
import sys

from eddy_runtime import Manager
from eddy_runtime.entrypoint import run
from eddy_runtime.flags import options_from

from .controller import controller
from .reconcile import NAME, Settings


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--helm-path",
        default="helm",
        metavar="PATH",
        help="The helm binary that installs, upgrades, tests and uninstalls releases. "
        "(default helm on PATH)",
    )
    parser.add_argument(
        "--workdir",
        default=None,
        metavar="DIR",
        help="Where charts, values and kubeconfigs are written. (default the system temporary dir)",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    options = options_from(args)
    return Settings(
        helm=args.helm_path,
        requeue_dependency=options.requeue_dependency,
        no_cross_namespace_refs=options.no_cross_namespace_refs,
        default_service_account=options.default_service_account,
        workdir=args.workdir,
    )


def setup(manager: Manager, args: argparse.Namespace) -> None:
    ctl, _ = controller(manager, settings_from(args))
    manager.add(ctl)


def main() -> None:
    sys.exit(run(NAME, setup, add_flags=add_flags))


if __name__ == "__main__":
    main()
