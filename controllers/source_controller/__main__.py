"""The source-controller process: `source-controller` or `python -m source_controller`."""

from __future__ import annotations

import sys

from eddy_runtime.entrypoint import run

from .controller import NAME, add_flags, controllers, settings_from


def main() -> None:
    sys.exit(run(NAME, controllers, settings_from, add_flags, concurrent=2))


if __name__ == "__main__":
    main()
