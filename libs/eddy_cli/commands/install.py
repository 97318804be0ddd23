"""`eddy install`: eddy's CRDs and controllers into the current cluster, or as YAML.

The manifests are the package's own (the kustomize base, built), applied
server-side as the user, CRDs first; then it waits for the controllers.
"""

from __future__ import annotations

import click

from .. import __version__
from ..installer import install
from ..kube import Settings, run
from ..manifests import DEFAULT_REGISTRY, Options, render, to_yaml
from ..output import success

EXAMPLES = """\b
Examples:
  # Install every controller into flux-system and wait until they are available
  eddy install
\b
  # Only what Kustomizations need, from your own registry
  eddy install --components source-controller,kustomize-controller \\
      --registry registry.example.com/eddy-gitops --tag 0.1.0
\b
  # Print the YAML instead, e.g. to commit it
  eddy install --export > eddy.yaml
"""


def components_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--components",
        default="",
        help="Comma-separated controllers to install [default: every one the manifests hold].",
    )(func)


def image_options(func: click.decorators.FC) -> click.decorators.FC:
    func = click.option(
        "--registry",
        default=DEFAULT_REGISTRY,
        show_default=True,
        help="Registry (and path) the eddy image is pulled from: <registry>/eddy:<tag>.",
    )(func)
    return click.option("--tag", default=__version__, show_default=True, help="Image tag.")(func)


def options_from(settings: Settings, components: str, registry: str, tag: str) -> Options:
    return Options(settings.namespace, split(components), registry, tag)


def split(components: str) -> list[str]:
    """The --components list; empty means every controller."""
    return [c for c in components.split(",") if c.strip()] if components.strip() else []


@click.command(epilog=EXAMPLES)
@components_option
@image_options
@click.option("--export", is_flag=True, help="Print the manifests as YAML; change nothing.")
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Wait until every controller's Deployment is available.",
)
@click.option(
    "--timeout", type=float, default=300.0, show_default=True, help="Seconds to wait, at most."
)
@click.pass_obj
def command(
    settings: Settings,
    components: str,
    registry: str,
    tag: str,
    export: bool,
    wait: bool,
    timeout: float,
) -> None:
    """Install eddy's CRDs and controllers into the current cluster.

    Applies the manifests server-side into the namespace given by -n
    (default flux-system); re-running upgrades in place.
    """
    docs = render(options_from(settings, components, registry, tag))
    if export:
        click.echo(to_yaml(docs), nl=False)
        return
    run(settings, lambda cluster: install(cluster, docs, wait, timeout))
    success(f"eddy installed in namespace {settings.namespace}")
