"""A real Kubernetes node next to the local control plane: pods run.

containerd, the kubelet, kube-proxy and CoreDNS run inside namespaces of their
own (network, mount and PID), so the node's bridge, iptables rules, sysctls and
mounts never touch the host, and everything it started dies with it — even
when the test process is killed. Only three things cross: the API server and
the registry are forwarded into the node, the kubelet out of it (portbridge).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from eddy_testenv.controlplane import ControlPlane, free_port
from eddy_testenv.images import push_binary_image
from eddy_testenv.process import Process, ProcessError, Service, find_binary
from eddy_testenv.registry import Registry

# The API server reaches a kubelet by the node's hostname first: "localhost" is
# the host's loopback, where portbridge forwards to the kubelet in the node.
NODE_NAME = "localhost"
# The node's own address, on loopback inside its network namespace.
# Pods reach the forwarded API server, registry and test servers here.
NODE_ADDRESS = "10.255.255.1"
POD_CIDR = "10.244.0.0/16"
POD_SUBNET = "10.244.0.0/24"
SERVICE_CIDR = "10.0.0.0/16"
CLUSTER_DNS = "10.0.0.10"
CLUSTER_DOMAIN = "cluster.local"
PAUSE_REPOSITORY = "eddy/pause"
PAUSE_TAG = "3.10"
CNI_BIN_DIR = "/usr/lib/cni"
CGROUP_ROOT = Path("/sys/fs/cgroup")

_READY_TIMEOUT = 180.0


def unavailable_reason() -> str | None:
    """Why this machine cannot run a local node, or None when it can."""
    try:
        _require_host()
        for tool in ("kube-scheduler", "kubelet", "kube-proxy", "coredns", "pause"):
            find_binary(tool)
    except ProcessError as err:
        return str(err)
    return None


def _require_host() -> None:
    """Say exactly what is missing before starting anything."""
    if os.geteuid() != 0:
        raise ProcessError("the local node needs root (containerd, runc and namespaces)")
    missing = [
        name
        for name in ("containerd", "containerd-shim-runc-v2", "runc", "iptables", "ip", "unshare")
        if shutil.which(name) is None
    ]
    if not os.access(f"{CNI_BIN_DIR}/bridge", os.X_OK):
        missing.append(f"{CNI_BIN_DIR}/bridge")
    if missing:
        raise ProcessError(
            f"the local node needs {', '.join(missing)}; run 'make system-deps' "
            "(Debian: containerd runc containernetworking-plugins iptables iproute2)"
        )
    if not (CGROUP_ROOT / "memory").is_dir() and not (CGROUP_ROOT / "cgroup.controllers").exists():
        raise ProcessError("the local node needs cgroups mounted under /sys/fs/cgroup (v1 or v2)")


class NodeProcess(Process):
    """A program started inside the node's namespaces with nsenter.

    nsenter forks into the PID namespace, so its whole process group is signalled.
    """

    def __init__(self, name: str, pid1: int, argv: list[str], log_path: Path) -> None:
        enter = ["nsenter", f"--target={pid1}", "--net", "--mount", "--pid", "--"]
        super().__init__(name, [*enter, *argv], log_path)

    def stop(self, timeout: float = 10.0) -> None:
        pid = self.pid
        if pid is None or self.exit_code() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.exit_code() is None:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        super().stop(timeout=1.0)


class Node(Service):
    """containerd, kubelet, kube-proxy and CoreDNS for one ControlPlane.

    `registry` is a plain-HTTP registry without auth on loopback that the node
    pulls from; the pause image is built and pushed there on start. One node per
    machine at a time is not required: each has its own namespaces, cgroup root,
    directories and ports.
    """

    def __init__(
        self, control_plane: ControlPlane, registry: Registry, workdir: Path | None = None
    ) -> None:
        self.control_plane = control_plane
        self.registry = registry
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="eddy-node-"))
        self.name = NODE_NAME
        self.address = NODE_ADDRESS
        self.kubelet_port = free_port()
        self.cgroup_name = f"eddy-node-{secrets.token_hex(4)}"
        self.pause_image = f"{registry.host}/{PAUSE_REPOSITORY}:{PAUSE_TAG}"
        self._sandbox: Process | None = None
        self._pid1 = 0
        self._bridges: list[Process] = []
        self._processes: list[NodeProcess] = []
        self._scheduler: Process | None = None
        self._forwards: dict[tuple[str, int], int] = {}

    # -- lifecycle -----------------------------------------------------------

    def processes(self) -> list[Process]:
        found: list[Process] = [*self._bridges, *self._processes]
        if self._scheduler:
            found.append(self._scheduler)
        if self._sandbox:
            found.append(self._sandbox)
        return found

    def start(self) -> None:
        _require_host()
        try:
            push_binary_image([Path(find_binary("pause"))], self.pause_image, user="65535:65535")
            self._start_sandbox()
            self._start_bridge(
                [f"in:{self.control_plane.api_port}", f"in:{self.registry.port}"],
                [f"out:{self.kubelet_port}"],
            )
            self._write_cluster_objects()
            self._start_scheduler()
            self._start_containerd()
            self._start_kubelet()
            self._start_kube_proxy()
            self._start_coredns()
            self._wait_node_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for process in reversed(self._processes):
            process.stop()
        for bridge in self._bridges:
            bridge.stop()
        if self._scheduler:
            self._scheduler.stop()
        if self._sandbox:
            # unshare ignores SIGTERM while it waits; SIGKILL makes the kernel end
            # the PID namespace, and with it every shim and container left.
            with contextlib.suppress(ProcessLookupError):
                if self._sandbox.pid:
                    os.kill(self._sandbox.pid, signal.SIGKILL)
            self._sandbox.stop(timeout=5.0)
        self._remove_cgroups()
        with contextlib.suppress(Exception):
            self.kubectl("delete", "node", self.name, "--ignore-not-found", "--wait=false")
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def expose(self, port: int) -> None:
        """Make the host's 127.0.0.1:port reachable from pods at NODE_ADDRESS:port."""
        self._start_bridge([f"in:{port}"], [])

    def forward(self, address: str, port: int) -> int:
        """A host port on 127.0.0.1 that reaches address:port inside the node (a Service).

        Asking again for the same target gives the same port.
        """
        key = (address, port)
        if key not in self._forwards:
            local = free_port()
            self._start_bridge([], [f"out:{local}:{address}:{port}"])
            self._forwards[key] = local
        return self._forwards[key]

    # -- pieces --------------------------------------------------------------

    def _in_node(self, *argv: str) -> str:
        nsenter = ["nsenter", f"--target={self._pid1}", "--net", "--mount", "--pid", "--"]
        return _output([*nsenter, *argv], f"{' '.join(argv)} in the node", 60)

    def _start_sandbox(self) -> None:
        sandbox = Process(
            "node-sandbox",
            [
                "unshare",
                "--net",
                "--mount",
                "--pid",
                "--fork",
                "--kill-child",
                "--mount-proc",
                find_binary("pause"),
            ],
            self.workdir / "sandbox.log",
        )
        sandbox.start()
        self._sandbox = sandbox
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert sandbox.pid is not None
            children = Path(f"/proc/{sandbox.pid}/task/{sandbox.pid}/children")
            with contextlib.suppress(OSError):
                pids = children.read_text().split()
                if pids:
                    self._pid1 = int(pids[0])
                    break
            if sandbox.exit_code() is not None:
                raise ProcessError(f"could not create the node's namespaces:\n{sandbox.tail()}")
            time.sleep(0.02)
        else:
            raise ProcessError("the node's namespaces did not appear within 10s")
        self._in_node("ip", "link", "set", "lo", "up")
        # On lo, as this kernel may have no dummy interfaces; pods reach it all the same.
        self._in_node("ip", "addr", "add", f"{NODE_ADDRESS}/32", "dev", "lo")
        # A route for Service addresses, so the node itself (not only its pods)
        # reaches them: kube-proxy rewrites the destination after this lookup.
        self._in_node("ip", "route", "add", SERVICE_CIDR, "dev", "lo", "src", NODE_ADDRESS)
        # Both are per network namespace: the host's values stay as they are.
        self._in_node("sysctl", "-qw", "net.ipv4.ip_forward=1")
        self._in_node("sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1")

    def _start_bridge(self, inbound: list[str], outbound: list[str]) -> None:
        bridge = Process(
            "portbridge",
            [
                sys.executable,
                "-m",
                "eddy_testenv.portbridge",
                f"--netns=/proc/{self._pid1}/ns/net",
                *inbound,
                *outbound,
            ],
            self.workdir / f"portbridge-{len(self._bridges)}.log",
        )
        bridge.start()
        self._bridges.append(bridge)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if "ready" in bridge.tail():
                return
            if bridge.exit_code() is not None:
                raise ProcessError(f"portbridge exited:\n{bridge.tail()}")
            time.sleep(0.05)
        raise ProcessError(f"portbridge did not start:\n{bridge.tail()}")

    def _start(self, name: str, argv: list[str]) -> NodeProcess:
        process = NodeProcess(name, self._pid1, argv, self.workdir / f"{name}.log")
        process.start()
        self._processes.append(process)
        return process

    def _start_scheduler(self) -> None:
        """The control plane runs without a scheduler until there is a node to schedule to."""
        self._scheduler = Process(
            "kube-scheduler",
            [
                find_binary("kube-scheduler"),
                f"--kubeconfig={self.control_plane.kubeconfig}",
                "--leader-elect=false",
                "--secure-port=0",
                "--v=1",
            ],
            self.workdir / "kube-scheduler.log",
        )
        self._scheduler.start()

    def _start_containerd(self) -> None:
        root = self.workdir / "containerd"
        certs = root / "certs.d" / self.registry.host
        certs.mkdir(parents=True)
        certs.joinpath("hosts.toml").write_text(
            f'server = "http://{self.registry.host}"\n'
            f'[host."http://{self.registry.host}"]\n'
            '  capabilities = ["pull", "resolve"]\n'
        )
        cni_conf = root / "net.d"
        cni_conf.mkdir()
        cni_conf.joinpath("10-eddy.conflist").write_text(
            json.dumps(
                {
                    "cniVersion": "0.4.0",
                    "name": "eddy",
                    "plugins": [
                        {
                            "type": "bridge",
                            "bridge": "cni0",
                            "isGateway": True,
                            "ipMasq": True,
                            "hairpinMode": True,
                            "ipam": {
                                "type": "host-local",
                                "dataDir": str(root / "ipam"),
                                "ranges": [[{"subnet": POD_SUBNET}]],
                                "routes": [{"dst": "0.0.0.0/0"}],
                            },
                        },
                        {"type": "portmap", "capabilities": {"portMappings": True}},
                    ],
                },
                indent=2,
            )
        )
        self.containerd_socket = root / "containerd.sock"
        config = f"""\
version = 2
root = "{root / "root"}"
state = "{root / "state"}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.internal.v1.opt"]
[grpc]
  address = "{self.containerd_socket}"
[ttrpc]
  address = "{self.containerd_socket}.ttrpc"
[debug]
  level = "warn"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{self.pause_image}"
  netns_mounts_under_state_dir = true
  enable_unprivileged_ports = true
  # Lowering an OOM score needs CAP_SYS_RESOURCE, which some machines (and
  # sandboxes) withhold even from root; keep scores at or above containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{cni_conf}"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{root / "certs.d"}"
"""
        path = root / "config.toml"
        path.write_text(config)
        process = self._start("containerd", ["containerd", f"--config={path}"])
        deadline = time.monotonic() + 30
        while not self.containerd_socket.exists():
            if process.exit_code() is not None or time.monotonic() > deadline:
                raise ProcessError(f"containerd did not start:\n{process.tail()}")
            time.sleep(0.05)

    def _cgroup_tops(self) -> list[Path]:
        """The node's cgroup root: one folder per v1 controller, or one in the v2 tree."""
        if (CGROUP_ROOT / "cgroup.controllers").exists():
            return [CGROUP_ROOT / self.cgroup_name]
        return [
            controller / self.cgroup_name
            for controller in CGROUP_ROOT.iterdir()
            if controller.is_dir() and not controller.is_symlink() and controller.name != "unified"
        ]

    def _make_cgroups(self) -> None:
        for top in self._cgroup_tops():
            top.mkdir(exist_ok=True)
            # The node's pods share one cgroup against every process on the host:
            # give them the weight of several, so a busy machine does not starve
            # them past their probes' patience.
            for knob, value in (("cpu.shares", "8192"), ("cpu.weight", "800")):
                with contextlib.suppress(OSError):
                    if (top / knob).exists():
                        (top / knob).write_text(value)

    def _remove_cgroups(self) -> None:
        deadline = time.monotonic() + 10
        for top in self._cgroup_tops():
            if not top.is_dir():
                continue
            folders = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
            for folder in [*folders, top]:
                while True:
                    try:
                        folder.rmdir()
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        # Processes just killed leave their cgroup a moment later.
                        if time.monotonic() > deadline:
                            break
                        time.sleep(0.1)

    def _start_kubelet(self) -> None:
        self._make_cgroups()
        root = self.workdir / "kubelet"
        root.mkdir()
        pki = self.control_plane.workdir / "pki"
        resolv = root / "resolv.conf"
        resolv.write_text("")
        config: dict[str, Any] = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            # The kubelet refuses cgroup v1 (what some machines still mount) unless told.
            "failCgroupV1": False,
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": f"/{self.cgroup_name}",
            "address": "127.0.0.1",
            "port": self.kubelet_port,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(pki / "ca.crt")},
            },
            "authorization": {"mode": "Webhook"},
            "clusterDNS": [CLUSTER_DNS],
            "clusterDomain": CLUSTER_DOMAIN,
            "resolvConf": str(resolv),
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            "podLogsDir": str(root / "pod-logs"),
            "failSwapOn": False,
            "oomScoreAdj": 0,
            "serializeImagePulls": False,
            "imageGCHighThresholdPercent": 100,
            "evictionHard": {
                "memory.available": "1Mi",
                "nodefs.available": "1%",
                "imagefs.available": "1%",
                "nodefs.inodesFree": "1%",
            },
            "registerNode": True,
            "nodeStatusUpdateFrequency": "2s",
            "syncFrequency": "5s",
            "fileCheckFrequency": "5s",
            "enableServer": True,
            "maxPods": 110,
            "podCIDR": POD_SUBNET,
        }
        path = root / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        self._start(
            "kubelet",
            [
                find_binary("kubelet"),
                f"--config={path}",
                f"--kubeconfig={self.control_plane.kubeconfig}",
                f"--root-dir={root / 'root'}",
                f"--cert-dir={root / 'pki'}",
                f"--hostname-override={self.name}",
                f"--node-ip={NODE_ADDRESS}",
                "--v=1",
            ],
        )

    def _start_kube_proxy(self) -> None:
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "mode": "iptables",
            "clusterCIDR": POD_CIDR,
            "hostnameOverride": self.name,
            "clientConnection": {"kubeconfig": str(self.control_plane.kubeconfig)},
            "bindAddress": "127.0.0.1",
            "healthzBindAddress": "127.0.0.1:10256",
            "metricsBindAddress": "127.0.0.1:10249",
            # The conntrack table size is global to the machine: leave it alone.
            "conntrack": {"maxPerCore": 0, "min": 0},
            "oomScoreAdj": 0,
        }
        path = self.workdir / "kube-proxy.yaml"
        path.write_text(yaml.safe_dump(config))
        self._start("kube-proxy", [find_binary("kube-proxy"), f"--config={path}", "--v=1"])

    def _start_coredns(self) -> None:
        corefile = self.workdir / "Corefile"
        corefile.write_text(
            f""".:53 {{
    bind {NODE_ADDRESS}
    errors
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {self.control_plane.kubeconfig} eddy
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 5
}}
"""
        )
        self._start("coredns", [find_binary("coredns"), "-conf", str(corefile)])

    # -- cluster objects -------------------------------------------------------

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        kubectl = [find_binary("kubectl"), f"--kubeconfig={self.control_plane.kubeconfig}"]
        return _output([*kubectl, *args], f"kubectl {' '.join(args)}", 120, stdin)

    def _write_cluster_objects(self) -> None:
        """The Services pods need: the API server (`kubernetes`) and cluster DNS (`kube-dns`)."""
        api_port = self.control_plane.api_port
        documents = [
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": "kubernetes",
                    "namespace": "default",
                    "labels": {
                        "kubernetes.io/service-name": "kubernetes",
                        "endpointslice.kubernetes.io/managed-by": "eddy-testenv",
                    },
                },
                "addressType": "IPv4",
                "endpoints": [{"addresses": [NODE_ADDRESS], "conditions": {"ready": True}}],
                "ports": [{"name": "https", "port": api_port, "protocol": "TCP"}],
            },
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": "kube-dns",
                    "namespace": "kube-system",
                    "labels": {"k8s-app": "kube-dns"},
                },
                "spec": {
                    "clusterIP": CLUSTER_DNS,
                    "ports": [
                        {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                        {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                    ],
                },
            },
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": "kube-dns",
                    "namespace": "kube-system",
                    "labels": {
                        "kubernetes.io/service-name": "kube-dns",
                        "endpointslice.kubernetes.io/managed-by": "eddy-testenv",
                    },
                },
                "addressType": "IPv4",
                "endpoints": [{"addresses": [NODE_ADDRESS], "conditions": {"ready": True}}],
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP"},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
                ],
            },
        ]
        text = yaml.safe_dump_all(documents)
        self.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=text)

    def _wait_node_ready(self) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT
        last = ""
        while time.monotonic() < deadline:
            for process in self.processes():
                code = process.exit_code()
                if code is not None:
                    raise ProcessError(
                        f"{process.name} exited with code {code} while the node started. "
                        f"Its last log lines ({process.log_path}):\n{process.tail()}"
                    )
            with contextlib.suppress(ProcessError):
                last = self.kubectl(
                    "get", "node", self.name, "-o",
                    "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
                )  # fmt: skip
                if last == "True":
                    return
            time.sleep(0.5)
        kubelet = next(p for p in self._processes if p.name == "kubelet")
        raise ProcessError(
            f"node {self.name} not Ready within {_READY_TIMEOUT:.0f}s (Ready={last or 'absent'}). "
            f"kubelet's last log lines ({kubelet.log_path}):\n{kubelet.tail()}"
        )


def _output(argv: list[str], what: str, timeout: float, stdin: str | None = None) -> str:
    """The stdout of a command that must succeed; ProcessError quoting its stderr if not."""
    done = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, check=False, timeout=timeout
    )
    if done.returncode != 0:
        raise ProcessError(f"{what} failed: {done.stderr.strip()}")
    return done.stdout
