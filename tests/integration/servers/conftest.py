"""Server fixtures for this folder until eddy_testenv.pytest_servers is a registered plugin.

Once tests/conftest.py lists "eddy_testenv.pytest_servers" in pytest_plugins,
this file can go.
"""

from eddy_testenv.pytest_servers import (
    git_repo,
    git_repos,
    git_server,
    git_server_auth,
    git_server_tls,
    git_ssh_server,
    helm_repo,
    helm_repo_factory,
)

__all__ = [
    "git_repo",
    "git_repos",
    "git_server",
    "git_server_auth",
    "git_server_tls",
    "git_ssh_server",
    "helm_repo",
    "helm_repo_factory",
]
