"""Shared test configuration: the real control plane fixtures for every suite."""

pytest_plugins = [
    "eddy_testenv.pytest_plugin",
    "eddy_testenv.pytest_servers",
    "eddy_testenv.pytest_node",
]
