"""The notification-controller process: `notification-controller` or `python -m`.

One process reconciles Providers, Alerts and Receivers and serves the events and
webhook endpoints.
"""

from __future__ import annotations

import sys

from eddy_runtime.entrypoint import run

from .controller import NAME, add_flags, controllers, settings_from


def main() -> None:
    sys.exit(run(NAME, controllers, settings_from, add_flags))


if __name__ == "__main__":
    main()
