"""A real local Kubernetes control plane for tests, benchmarks and the demo.

etcd and kube-apiserver run on loopback as child processes; nothing is faked.
"""

from eddy_testenv.controlplane import ControlPlane, free_port
from eddy_testenv.process import Process, ProcessError, find_binary

__all__ = ["ControlPlane", "Process", "ProcessError", "find_binary", "free_port"]
