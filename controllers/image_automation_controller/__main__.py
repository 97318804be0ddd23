"""The image-automation-controller process: `image-automation-controller` or `python -m`.

One process runs the ImageRepository, ImagePolicy and ImageUpdateAutomation reconcilers.
"""

from __future__ import annotations

import sys

from eddy_runtime.entrypoint import run

from .controller import NAME, controllers, settings_from


def main() -> None:
    sys.exit(run(NAME, controllers, settings_from))


if __name__ == "__main__":
    main()
