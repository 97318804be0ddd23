"""The image-automation-controller process: `image-automation-controller` or `python -m`.

One process runs the ImageRepository, ImagePolicy and ImageUpdateAutomation reconcilers.
"""

from __future__ import annotations

import argparse
import sys

from eddy_runtime import Manager
from eddy_runtime.entrypoint import run
from eddy_runtime.flags import options_from

from .controller import Settings, controllers

NAME = "image-automation-controller"


def setup(manager: Manager, args: argparse.Namespace) -> None:
    options = options_from(args)
    found, _ = controllers(
        manager, Settings(options.requeue_dependency, options.no_cross_namespace_refs)
    )
    for ctl in found:
        manager.add(ctl)


def main() -> None:
    sys.exit(run(NAME, setup))


if __name__ == "__main__":
    main()
