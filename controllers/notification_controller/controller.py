"""The notification-controller as the runtime runs it: three kinds and two servers.

Alerts follow their Provider through an index; the events server (`--events-addr`)
and the webhook server (`--receiver-addr`) run beside the reconcilers.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from eddy_runtime import Controller, Manager, Watch, ref_key
from eddy_runtime.durations import parse_duration

from .alerts import RATE_LIMIT_INTERVAL
from .event_server import EventServer
from .objects import ALERTS, PROVIDERS, RECEIVERS, Obj, name_of, spec_of
from .receiver_server import GOOGLE_TOKENINFO, ReceiverServer
from .reconcile import AlertAttempt, NotificationReconciler, ProviderAttempt, ReceiverAttempt

NAME = "notification-controller"
PROVIDER_INDEX = "provider"
DEFAULT_EVENTS_ADDR = ":9090"
DEFAULT_RECEIVER_ADDR = ":9292"


@dataclass(frozen=True)
class Settings:
    events_addr: str = DEFAULT_EVENTS_ADDR
    receiver_addr: str = DEFAULT_RECEIVER_ADDR
    rate_limit_interval: float = RATE_LIMIT_INTERVAL
    gcr_tokeninfo_url: str = GOOGLE_TOKENINFO


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--receiver-addr",
        default=DEFAULT_RECEIVER_ADDR,
        help='The address the webhook receiver server binds to. (default ":9292")',
    )
    parser.add_argument(
        "--rate-limit-interval",
        default="5m",
        help="Identical events within this interval are sent once. (default 5m)",
    )
    parser.add_argument(
        "--gcr-tokeninfo-url",
        default=GOOGLE_TOKENINFO,
        help="Where the OIDC tokens of GCR Receiver calls are checked.",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    # In this process --events-addr is where events are received, not where they go.
    return Settings(
        events_addr=args.events_addr or DEFAULT_EVENTS_ADDR,
        receiver_addr=args.receiver_addr,
        rate_limit_interval=parse_duration(args.rate_limit_interval),
        gcr_tokeninfo_url=args.gcr_tokeninfo_url,
    )


def provider_keys(alert: Obj) -> list[str]:
    namespace, _ = name_of(alert)
    name = (spec_of(alert).get("providerRef") or {}).get("name")
    return [ref_key(PROVIDERS.kind, namespace, str(name))] if name else []


def ready_changed(old: Obj | None, new: Obj) -> bool:
    return old is None or (old.get("status") or {}).get("conditions") != (
        new.get("status") or {}
    ).get("conditions")


def controllers(manager: Manager, settings: Settings) -> list[Controller]:
    events = EventServer(manager, settings.rate_limit_interval)
    manager.add_server("events", events.app(), settings.events_addr)
    receivers = ReceiverServer(manager, settings.gcr_tokeninfo_url)
    manager.add_server("receiver", receivers.app(), settings.receiver_addr)
    return [
        Controller("provider", PROVIDERS, NotificationReconciler(manager, ProviderAttempt)),
        Controller(
            "alert",
            ALERTS,
            NotificationReconciler(manager, AlertAttempt),
            watches=[Watch(PROVIDERS, index=PROVIDER_INDEX, predicate=ready_changed)],
            indexes={PROVIDER_INDEX: provider_keys},
        ),
        Controller("receiver", RECEIVERS, NotificationReconciler(manager, ReceiverAttempt)),
    ]
