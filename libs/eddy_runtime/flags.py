"""The command-line flags every eddy controller accepts, named and defaulted as Flux's.

Deployments written for Flux pass the same arguments to eddy; one parser means the
four controllers never drift apart.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass

from .annotations import WATCH_ENABLED, WATCH_LABEL
from .durations import parse_duration
from .kubeconfig import KubeconfigPolicy
from .selectors import SelectorError, parse_selector


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "t", "true", "yes", "on"):
        return True
    if value in ("0", "f", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r}")


def duration_flag(text: str) -> float:
    """An argparse type: a Go duration ("90s", "1m30s") as seconds."""
    try:
        return parse_duration(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


@dataclass(frozen=True)
class Options:
    """Parsed runtime flags; durations in seconds."""

    concurrent: int = 4
    min_retry_delay: float = 0.75
    max_retry_delay: float = 900.0
    interval_jitter_percentage: float = 5.0
    enable_leader_election: bool = False
    leader_election_lease_duration: float = 35.0
    leader_election_renew_deadline: float = 30.0
    leader_election_retry_period: float = 5.0
    leader_election_release_on_cancel: bool = True
    watch_all_namespaces: bool = True
    watch_label_selector: str = ""
    watch_configs_label_selector: str = f"{WATCH_LABEL}={WATCH_ENABLED}"
    metrics_addr: str = ":8080"
    health_addr: str = ":9440"
    log_level: str = "info"
    log_encoding: str = "json"
    requeue_dependency: float = 30.0
    no_cross_namespace_refs: bool = False
    default_service_account: str = ""
    kubeconfig: str = ""
    graceful_shutdown_timeout: float = 600.0
    kube_api_qps: float = 50.0
    kube_api_burst: int = 300
    events_addr: str = ""
    runtime_namespace: str = ""


def selector_flag(text: str) -> str:
    """A label selector flag, checked as the API server would before it is used."""
    try:
        parse_selector(text)
    except SelectorError as err:
        raise argparse.ArgumentTypeError(str(err)) from err
    return text


def _flag_bool(parser: argparse.ArgumentParser, name: str, default: bool, help_text: str) -> None:
    # Go flags accept both "--x" and "--x=false"; Flux manifests use both spellings.
    parser.add_argument(
        name, type=parse_bool, nargs="?", const=True, default=default, metavar="BOOL",
        help=f"{help_text} (default {str(default).lower()})",
    )  # fmt: skip


def add_runtime_flags(parser: argparse.ArgumentParser, concurrent: int = 4) -> None:
    """Add the shared flags; `concurrent` is the per-controller default worker count."""
    d = Options()
    add = parser.add_argument
    add(
        "--concurrent",
        type=int,
        default=concurrent,
        help=f"The number of concurrent reconciles per controller. (default {concurrent})",
    )
    add(
        "--min-retry-delay",
        type=duration_flag,
        default=d.min_retry_delay,
        metavar="DURATION",
        help="The minimum time an object waits before a retry after a failure. (default 750ms)",
    )
    add(
        "--max-retry-delay",
        type=duration_flag,
        default=d.max_retry_delay,
        metavar="DURATION",
        help="The maximum time an object waits before a retry after a failure. (default 15m0s)",
    )
    add(
        "--interval-jitter-percentage",
        type=float,
        default=d.interval_jitter_percentage,
        help="Percentage of jitter applied to interval requeues, +/-. (default 5)",
    )
    _flag_bool(
        parser,
        "--enable-leader-election",
        False,
        "Enable leader election so that only one replica reconciles",
    )
    add(
        "--leader-election-lease-duration",
        type=duration_flag,
        default=d.leader_election_lease_duration,
        metavar="DURATION",
        help="How long non-leaders wait before forcing a takeover. (default 35s)",
    )
    add(
        "--leader-election-renew-deadline",
        type=duration_flag,
        default=d.leader_election_renew_deadline,
        metavar="DURATION",
        help="How long the leader retries renewing before giving up. (default 30s)",
    )
    add(
        "--leader-election-retry-period",
        type=duration_flag,
        default=d.leader_election_retry_period,
        metavar="DURATION",
        help="How long candidates wait between tries. (default 5s)",
    )
    _flag_bool(
        parser, "--leader-election-release-on-cancel", True, "Step down voluntarily on shutdown"
    )
    _flag_bool(
        parser,
        "--watch-all-namespaces",
        True,
        "Watch all namespaces; if false, only the runtime namespace",
    )
    add(
        "--watch-label-selector",
        default="",
        metavar="SELECTOR",
        help="Watch only objects with matching labels, e.g. 'sharding.fluxcd.io/key=shard1'.",
    )
    add(
        "--watch-configs-label-selector",
        type=selector_flag,
        default=d.watch_configs_label_selector,
        metavar="SELECTOR",
        help="Watch ConfigMaps and Secrets with matching labels: a change reconciles the "
        "HelmReleases and Kustomizations that read them at once; empty for all. "
        f"(default {d.watch_configs_label_selector})",
    )
    add(
        "--metrics-addr",
        default=d.metrics_addr,
        metavar="ADDR",
        help='The address the metric endpoint binds to. (default ":8080")',
    )
    add(
        "--health-addr",
        default=d.health_addr,
        metavar="ADDR",
        help='The address the health endpoint binds to. (default ":9440")',
    )
    add(
        "--log-level",
        default="info",
        choices=["trace", "debug", "info", "error"],
        help="Log verbosity level. (default info)",
    )
    add(
        "--log-encoding",
        default="json",
        choices=["json", "console"],
        help="Log encoding format. (default json)",
    )
    add(
        "--requeue-dependency",
        type=duration_flag,
        default=d.requeue_dependency,
        metavar="DURATION",
        help="The interval at which failing dependencies are reevaluated.",
    )
    _flag_bool(
        parser,
        "--no-cross-namespace-refs",
        False,
        "Refuse references to objects in other namespaces",
    )
    add(
        "--default-service-account",
        default="",
        metavar="NAME",
        help="Default service account used for impersonation.",
    )
    add(
        "--kubeconfig",
        default=os.environ.get("KUBECONFIG", ""),
        metavar="PATH",
        help="Path to a kubeconfig; in-cluster configuration when empty.",
    )
    add(
        "--graceful-shutdown-timeout",
        type=duration_flag,
        default=d.graceful_shutdown_timeout,
        metavar="DURATION",
        help="How long in-flight reconciles may run after SIGTERM. (default 10m0s)",
    )
    add(
        "--kube-api-qps",
        type=float,
        default=d.kube_api_qps,
        help="The maximum queries-per-second sent to the Kubernetes API. (default 50)",
    )
    add(
        "--kube-api-burst",
        type=int,
        default=d.kube_api_burst,
        help="The maximum burst of queries sent to the Kubernetes API. (default 300)",
    )
    add(
        "--events-addr",
        default="",
        metavar="URL",
        help="The address of an external events receiver (notification-controller).",
    )


def add_kubeconfig_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of the controllers that act on remote clusters (`spec.kubeConfig`)."""
    _flag_bool(
        parser,
        "--insecure-kubeconfig-exec",
        False,
        "Allow use of the user.exec section in kubeconfigs provided for remote apply",
    )
    _flag_bool(
        parser,
        "--insecure-kubeconfig-tls",
        False,
        "Allow that kubeconfigs provided for remote apply can disable TLS verification",
    )
    parser.add_argument(
        "--default-kubeconfig-service-account",
        default="",
        metavar="NAME",
        help="Default service account used for kubeconfig (workload identity through "
        "spec.kubeConfig.configMapRef, which eddy refuses; accepted for Flux's arguments).",
    )


# Flux's feature gates that eddy acts on, with Flux's defaults. Any other is refused at
# start, as Flux refuses a gate it does not know, rather than accepted and ignored.
ADDITIVE_CEL_DEPENDENCY_CHECK = "AdditiveCELDependencyCheck"
DISABLE_CONFIG_WATCHERS = "DisableConfigWatchers"
FEATURE_GATES = {ADDITIVE_CEL_DEPENDENCY_CHECK: False, DISABLE_CONFIG_WATCHERS: False}


def feature_gates_flag(text: str) -> dict[str, bool]:
    """`Name=true,Other=false`, each name one of FEATURE_GATES."""
    chosen: dict[str, bool] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, value = (s.strip() for s in item.partition("="))
        if not sep:
            raise argparse.ArgumentTypeError(f"feature-gate {item!r} needs a value: {name}=true")
        if name not in FEATURE_GATES:
            raise argparse.ArgumentTypeError(
                f"feature-gate '{name}' not supported by eddy (supported: "
                f"{', '.join(sorted(FEATURE_GATES))})"
            )
        chosen[name] = parse_bool(value)
    return chosen


def add_feature_gates_flag(parser: argparse.ArgumentParser) -> None:
    """Flux's --feature-gates, for the controllers that act on one of FEATURE_GATES."""
    parser.add_argument(
        "--feature-gates",
        type=feature_gates_flag,
        action="append",
        default=[],
        metavar="GATES",
        help="Feature gates, e.g. AdditiveCELDependencyCheck=true; eddy supports "
        f"{', '.join(f'{k} (default {str(v).lower()})' for k, v in FEATURE_GATES.items())}.",
    )


def feature_gates_from(args: argparse.Namespace) -> dict[str, bool]:
    """Every gate of FEATURE_GATES, as set by the (repeatable) --feature-gates flag."""
    gates = dict(FEATURE_GATES)
    for chosen in args.feature_gates:
        gates.update(chosen)
    return gates


def kubeconfig_policy_from(args: argparse.Namespace) -> KubeconfigPolicy:
    return KubeconfigPolicy(
        allow_exec=args.insecure_kubeconfig_exec,
        allow_insecure_tls=args.insecure_kubeconfig_tls,
    )


def options_from(args: argparse.Namespace) -> Options:
    return Options(
        concurrent=max(1, args.concurrent),
        min_retry_delay=args.min_retry_delay,
        max_retry_delay=args.max_retry_delay,
        interval_jitter_percentage=args.interval_jitter_percentage,
        enable_leader_election=args.enable_leader_election,
        leader_election_lease_duration=args.leader_election_lease_duration,
        leader_election_renew_deadline=args.leader_election_renew_deadline,
        leader_election_retry_period=args.leader_election_retry_period,
        leader_election_release_on_cancel=args.leader_election_release_on_cancel,
        watch_all_namespaces=args.watch_all_namespaces,
        watch_label_selector=args.watch_label_selector,
        watch_configs_label_selector=args.watch_configs_label_selector,
        metrics_addr=args.metrics_addr,
        health_addr=args.health_addr,
        log_level=args.log_level,
        log_encoding=args.log_encoding,
        requeue_dependency=args.requeue_dependency,
        no_cross_namespace_refs=args.no_cross_namespace_refs,
        default_service_account=args.default_service_account,
        kubeconfig=args.kubeconfig,
        graceful_shutdown_timeout=args.graceful_shutdown_timeout,
        kube_api_qps=args.kube_api_qps,
        kube_api_burst=args.kube_api_burst,
        events_addr=args.events_addr,
        runtime_namespace=runtime_namespace(),
    )


def runtime_namespace() -> str:
    """The namespace this controller runs in (RUNTIME_NAMESPACE, as Flux sets it)."""
    env = os.environ.get("RUNTIME_NAMESPACE")
    if env:
        return env
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as f:
            return f.read().strip()
    except OSError:
        return "default"


def parse(argv: Sequence[str] | None = None, concurrent: int = 4, prog: str = "") -> Options:
    """Parse only the shared flags (for controllers that add none of their own)."""
    parser = argparse.ArgumentParser(prog=prog or None)
    add_runtime_flags(parser, concurrent=concurrent)
    return options_from(parser.parse_args(argv))
