"""Flags parse as Flux's do: names, defaults, Go durations and Go booleans."""

from __future__ import annotations

import pytest

from eddy_runtime.durations import format_duration, parse_duration
from eddy_runtime.flags import parse


def test_defaults_match_flux() -> None:
    opts = parse([], concurrent=2)
    assert opts.concurrent == 2
    assert opts.min_retry_delay == 0.75
    assert opts.max_retry_delay == 900
    assert opts.leader_election_lease_duration == 35
    assert opts.leader_election_renew_deadline == 30
    assert opts.leader_election_retry_period == 5
    assert opts.leader_election_release_on_cancel is True
    assert opts.enable_leader_election is False
    assert opts.watch_all_namespaces is True
    assert (opts.metrics_addr, opts.health_addr) == (":8080", ":9440")
    assert (opts.log_level, opts.log_encoding) == ("info", "json")
    assert opts.watch_configs_label_selector == "reconcile.fluxcd.io/watch=Enabled"


def test_flux_spellings() -> None:
    opts = parse(
        [
            "--concurrent=8",
            "--enable-leader-election",
            "--watch-all-namespaces=false",
            "--watch-label-selector=sharding.fluxcd.io/key=shard1",
            "--min-retry-delay=2s",
            "--max-retry-delay=1m30s",
            "--leader-election-lease-duration=4s",
            "--graceful-shutdown-timeout=10s",
            "--no-cross-namespace-refs=true",
            "--default-service-account=default",
            "--requeue-dependency=5s",
            "--log-level=debug",
        ]
    )
    assert opts.concurrent == 8
    assert opts.enable_leader_election is True
    assert opts.watch_all_namespaces is False
    assert opts.watch_label_selector == "sharding.fluxcd.io/key=shard1"
    assert (opts.min_retry_delay, opts.max_retry_delay) == (2, 90)
    assert opts.leader_election_lease_duration == 4
    assert opts.graceful_shutdown_timeout == 10
    assert opts.no_cross_namespace_refs is True
    assert opts.default_service_account == "default"
    assert opts.requeue_dependency == 5


def test_watch_configs_label_selector_is_checked_and_may_be_empty() -> None:
    assert parse(["--watch-configs-label-selector=team in (a,b)"]).watch_configs_label_selector \
        == "team in (a,b)"  # fmt: skip
    assert parse(["--watch-configs-label-selector="]).watch_configs_label_selector == ""
    with pytest.raises(SystemExit):
        parse(["--watch-configs-label-selector=a=(b"])


def test_feature_gates_eddy_acts_on_are_read_and_others_refused() -> None:
    import argparse

    from eddy_runtime.flags import add_feature_gates_flag, feature_gates_from

    parser = argparse.ArgumentParser()
    add_feature_gates_flag(parser)
    gates = feature_gates_from(parser.parse_args([]))
    assert gates == {"AdditiveCELDependencyCheck": False, "DisableConfigWatchers": False}
    args = parser.parse_args([
        "--feature-gates=AdditiveCELDependencyCheck=true,DisableConfigWatchers=false",
        "--feature-gates=DisableConfigWatchers=true",
    ])  # fmt: skip
    assert feature_gates_from(args) == {
        "AdditiveCELDependencyCheck": True,
        "DisableConfigWatchers": True,
    }
    for bad in ("OOMWatch=true", "AdditiveCELDependencyCheck", "DisableConfigWatchers=maybe"):
        with pytest.raises(SystemExit):
            parser.parse_args([f"--feature-gates={bad}"])


def test_bad_duration_is_rejected() -> None:
    with pytest.raises(SystemExit):
        parse(["--min-retry-delay=soon"])


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("750ms", 0.75), ("15m0s", 900), ("1h30m", 5400), ("1.5s", 1.5), ("0", 0), ("-2s", -2)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "1x", "s", "1m junk"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_duration() -> None:
    assert format_duration(90) == "1m30s"
    assert format_duration(0.75) == "750ms"
    assert format_duration(3600) == "1h0m0s"
