"""Leader election on a coordination.k8s.io/v1 Lease, as Kubernetes controllers do it.

Several replicas may run for availability; only the Lease holder reconciles, and a
standby takes over once the holder stops renewing for a lease duration.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp

from .resources import LEASES, ApiError, Obj, ResourceClient

log = logging.getLogger("eddy.leader")


def _micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def default_identity() -> str:
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4()}"


class LeaderElector:
    """Acquire, renew and release one Lease.

    Expiry is judged by when *this* process last saw the lease change, not by the
    timestamps written in it, so clock skew between replicas does not matter.
    """

    def __init__(
        self,
        client: ResourceClient,
        namespace: str,
        name: str,
        identity: str = "",
        lease_duration: float = 35.0,
        renew_deadline: float = 30.0,
        retry_period: float = 5.0,
        release_on_cancel: bool = True,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity or default_identity()
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.release_on_cancel = release_on_cancel
        self.is_leader = asyncio.Event()
        self._observed: tuple[str, str, float] | None = None  # (holder, renewTime, seen at)

    async def acquire(self) -> None:
        """Return once this process holds the lease."""
        while True:
            try:
                if await self._try_acquire_or_renew():
                    self.is_leader.set()
                    log.info("acquired lease %s/%s", self.namespace, self.name)
                    return
            except (ApiError, aiohttp.ClientError, OSError, TimeoutError) as err:
                log.warning("lease acquire failed: %s", err)
            await asyncio.sleep(self.retry_period)

    async def hold(self) -> None:
        """Renew until the lease cannot be renewed within renew_deadline; then return.

        Returning means leadership is lost; the caller must stop reconciling.
        """
        last_renewed = time.monotonic()
        while True:
            await asyncio.sleep(self.retry_period)
            try:
                if await self._try_acquire_or_renew():
                    last_renewed = time.monotonic()
                    continue
                log.error("lease %s/%s taken by another holder", self.namespace, self.name)
                break
            except (ApiError, aiohttp.ClientError, OSError, TimeoutError) as err:
                log.warning("lease renew failed: %s", err)
            if time.monotonic() - last_renewed > self.renew_deadline:
                log.error("could not renew lease within %.0fs", self.renew_deadline)
                break
        self.is_leader.clear()

    async def release(self) -> None:
        """Give the lease up so a standby need not wait for it to expire."""
        if not self.is_leader.is_set() or not self.release_on_cancel:
            return
        self.is_leader.clear()
        try:
            lease = await self.client.get(LEASES, self.name, self.namespace)
            if (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            lease["spec"]["holderIdentity"] = None
            lease["spec"]["leaseDurationSeconds"] = 1
            lease["spec"]["renewTime"] = _micro_now()
            await self.client.replace(LEASES, lease)
            log.info("released lease %s/%s", self.namespace, self.name)
        except (ApiError, aiohttp.ClientError, OSError, TimeoutError) as err:
            log.warning("lease release failed: %s", err)

    def _spec(self, transitions: int, acquire_time: str) -> dict[str, Any]:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self.lease_duration)),
            "acquireTime": acquire_time,
            "renewTime": _micro_now(),
            "leaseTransitions": transitions,
        }

    async def _try_acquire_or_renew(self) -> bool:
        lease = await self.client.get_or_none(LEASES, self.name, self.namespace)
        now = time.monotonic()
        if lease is None:
            body: Obj = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": self._spec(0, _micro_now()),
            }
            try:
                await self.client.create(LEASES, body, self.namespace)
            except ApiError as err:
                if err.already_exists or err.conflict:
                    return False
                raise
            self._observed = (self.identity, body["spec"]["renewTime"], now)
            return True
        spec = lease.get("spec") or {}
        holder = str(spec.get("holderIdentity") or "")
        renew = str(spec.get("renewTime") or "")
        if self._observed is None or self._observed[:2] != (holder, renew):
            self._observed = (holder, renew, now)
        duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
        held_by_other = holder and holder != self.identity
        if held_by_other and now - self._observed[2] < duration:
            return False
        transitions = int(spec.get("leaseTransitions") or 0)
        acquire_time = str(spec.get("acquireTime") or _micro_now())
        if holder != self.identity:
            transitions += 1
            acquire_time = _micro_now()
        lease["spec"] = self._spec(transitions, acquire_time)
        try:
            updated = await self.client.replace(LEASES, lease)
        except ApiError as err:
            if err.conflict:
                return False
            raise
        self._observed = (self.identity, str(updated["spec"].get("renewTime", "")), now)
        return True
