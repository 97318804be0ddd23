"""The shell commands the README and docs give, run as written from the checkout.

A newcomer copies these lines; each one listed here must still appear in a
fenced `sh` block of the docs and must work exactly as printed. Commands that
cannot run inside a test (`make test` itself, `docker build`, placeholders such
as `<namespace>`) are listed with the reason they are left out.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

START_CONTROL_PLANE = ".venv/bin/python -m eddy_testenv --crds manifests/crds"
# Run once a control plane from START_CONTROL_PLANE is up, with its KUBECONFIG.
WITH_CLUSTER = [
    "kubectl apply -k manifests/crds",
    "kubectl get kustomizations -A",
    "kubectl get helmreleases -A",
    "kubectl -n flux-system get gitrepositories,kustomizations",
]
# Run on their own.
STANDALONE = [
    ".venv/bin/python -m eddy_api.crdgen /tmp/crds",
]
NOT_RUN_HERE = {
    "make demo": "test_demo.py runs it",
    "make test": "this test runs inside it",
    "make tools": "the test run starts after it",
    ".venv/bin/python -m eddy_api.crdgen": "rewrites manifests/crds; test_crds.py checks it",
}


def shell_lines() -> list[str]:
    """Every command line of every fenced sh block, comments and continuations folded."""
    lines: list[str] = []
    for doc in DOCS:
        for block in re.findall(r"^```(?:sh|bash|shell)\n(.*?)^```", doc.read_text(), re.M | re.S):
            text = block.replace("\\\n", " ")
            for raw in text.splitlines():
                command = raw.split("  #", 1)[0].strip()
                if command and not command.startswith("#"):
                    lines.append(re.sub(r"\s+", " ", command))
    return lines


def test_every_command_listed_here_is_in_the_docs() -> None:
    documented = set(shell_lines())
    listed = [START_CONTROL_PLANE, *WITH_CLUSTER, *STANDALONE, *NOT_RUN_HERE]
    missing = [command for command in listed if command not in documented]
    assert not missing, f"the docs no longer give these commands; update this test: {missing}"


def newcomer_env(kubeconfig: Path | None = None) -> dict[str, str]:
    """A shell after `make tools`: nothing eddy-specific set, kubectl on PATH from .tools/bin."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDDY_")}
    env.pop("KUBECONFIG", None)
    env["PATH"] = os.pathsep.join([str(ROOT / ".tools" / "bin"), env.get("PATH", "")])
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    return env


def run(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def documented_control_plane() -> Iterator[Path]:
    """The README's control plane, started as written without EDDY_TOOLS_BIN; its kubeconfig."""
    env = {k: v for k, v in newcomer_env().items()}
    # Not even .tools/bin on PATH: the command must find the tools `make tools` linked.
    env["PATH"] = os.pathsep.join(
        p for p in env["PATH"].split(os.pathsep) if p != str(ROOT / ".tools" / "bin")
    )
    proc = subprocess.Popen(
        START_CONTROL_PLANE,
        shell=True,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    output: list[str] = []
    kubeconfig: Path | None = None
    deadline = time.monotonic() + 120
    try:
        while kubeconfig is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            output.append(line)
            if line.startswith("export KUBECONFIG="):
                kubeconfig = Path(line.split("=", 1)[1].strip())
        assert kubeconfig is not None, (
            "the control plane never printed its KUBECONFIG:\n" + "".join(output)
        )
        assert any(line.startswith("installed ") for line in output), "".join(output)
        yield kubeconfig
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            rest, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rest, _ = proc.communicate()
    assert "control plane stopped" in rest, "".join(output) + rest


@pytest.mark.e2e
@pytest.mark.parametrize("command", WITH_CLUSTER)
def test_documented_command_against_the_documented_control_plane(
    command: str, documented_control_plane: Path
) -> None:
    done = run(command, newcomer_env(documented_control_plane))
    assert done.returncode == 0, f"`{command}` failed:\n{done.stdout}{done.stderr}"


@pytest.mark.parametrize("command", STANDALONE)
def test_documented_command_on_its_own(command: str) -> None:
    done = run(command, newcomer_env())
    assert done.returncode == 0, f"`{command}` failed:\n{done.stdout}{done.stderr}"
