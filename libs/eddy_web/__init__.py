"""eddy's dashboard: every application, its tree, drift and history, in a browser.

A client of the Kubernetes API like the `eddy` command: it reads and acts as the
person using it, so Kubernetes RBAC decides what they see and may do.
"""

from eddy_web.server import main

__all__ = ["main"]
