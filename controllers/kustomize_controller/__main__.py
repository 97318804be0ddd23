"""The kustomize-controller process: `kustomize-controller` or `python -m kustomize_controller`.

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
        "--kustomize-path",
        default="kustomize",
        metavar="PATH",
        help="The kustomize binary used to build manifests. (default kustomize on PATH)",
    )
    parser.add_argument(
        "--workdir",
        default=None,
        metavar="DIR",
        help="Where artifacts are extracted and built. (default the system temporary dir)",
    )
    parser.add_argument(
        "--override-manager",
        action="append",
        default=[],
        metavar="NAME",
        help="A field manager whose fields are taken over on apply, like kubectl's; "
        "may be repeated.",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    options = options_from(args)
    return Settings(
        kustomize=args.kustomize_path,
        requeue_dependency=options.requeue_dependency,
        no_cross_namespace_refs=options.no_cross_namespace_refs,
        default_service_account=options.default_service_account,
        workdir=args.workdir,
        override_managers=tuple(args.override_manager),
    )


def setup(manager: Manager, args: argparse.Namespace) -> None:
    ctl, _ = controller(manager, settings_from(args))
    manager.add(ctl)


def main() -> None:
    sys.exit(run(NAME, setup, add_flags=add_flags))


if __name__ == "__main__":
    main()
