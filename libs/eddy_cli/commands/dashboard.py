"""`eddy dashboard`: eddy's dashboard on 127.0.0.1, with your kubeconfig, in your browser.

The same server the in-cluster Deployment runs (eddy_web), started for one
person: it sees and may do exactly what their kubeconfig allows.
"""

from __future__ import annotations

import click

from eddy_web.server import Options, run

from ..kube import Settings

EXAMPLES = """\b
Examples:
  eddy dashboard                     # opens http://127.0.0.1:9000 in your browser
  eddy dashboard --port 0 --no-open  # any free port; open the printed link yourself
"""


@click.command(epilog=EXAMPLES)
@click.option("--address", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=9000, show_default=True, help="Port to listen on (0: any free).")
@click.option("--open/--no-open", "open_browser", default=True, help="Open the browser.")
@click.pass_obj
def command(settings: Settings, address: str, port: int, open_browser: bool) -> None:
    """Serve eddy's dashboard locally and open it: apps, trees, drift, history, actions."""
    run(
        Options(
            host=address,
            port=port,
            kubeconfig=settings.kubeconfig_path(),
            context=settings.context,
            open_browser=open_browser,
        )
    )
