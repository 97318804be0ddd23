"""Container images built without a daemon and pushed to a local registry.

The local node pulls everything from a registry on loopback; these helpers
build small images with buildah (its own storage under a temporary folder, so
nothing is left behind) and push them over plain HTTP.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from eddy_testenv.process import ProcessError


def _buildah() -> str:
    found = shutil.which("buildah")
    if not found:
        raise ProcessError(
            "buildah not found; run 'make system-deps' (Debian: apt-get install buildah)"
        )
    return found


class Buildah:
    """buildah with throwaway storage: `with Buildah() as b: b.run(...)`."""

    def __init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="eddy-buildah-"))

    def __enter__(self) -> Buildah:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._dir.exists():
            # vfs layers are plain directories; buildah removes them with its storage.
            subprocess.run([*self._base(), "rm", "--all"], capture_output=True, check=False)
            subprocess.run(
                [*self._base(), "rmi", "--all", "--force"], capture_output=True, check=False
            )
            shutil.rmtree(self._dir, ignore_errors=True)

    def _base(self) -> list[str]:
        return [
            _buildah(),
            f"--root={self._dir / 'root'}",
            f"--runroot={self._dir / 'run'}",
            "--storage-driver=vfs",
        ]

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [*self._base(), *args], capture_output=True, text=True, check=False, timeout=600
        )
        if done.returncode != 0:
            raise ProcessError(f"buildah {' '.join(args)} failed:\n{done.stderr.strip()}")
        return done.stdout.strip()


def push_binary_image(
    binaries: Sequence[Path],
    reference: str,
    *,
    entrypoint: Sequence[str] | None = None,
    user: str = "65534:65534",
    env: dict[str, str] | None = None,
) -> None:
    """Build an image of static binaries (each at /<name>) and push it over plain HTTP.

    The entrypoint defaults to the first binary; the user to nobody.
    """
    with Buildah() as buildah:
        container = buildah.run("from", "scratch")
        for binary in binaries:
            buildah.run("copy", "--chmod=0755", container, str(binary), f"/{binary.name}")
        command = list(entrypoint) if entrypoint else [f"/{binaries[0].name}"]
        settings = [f"--env={key}={value}" for key, value in (env or {}).items()]
        buildah.run(
            "config", f"--entrypoint={json.dumps(command)}", f"--user={user}", *settings, container
        )
        buildah.run("commit", "--format=oci", container, "image")
        buildah.run("push", "--tls-verify=false", "image", f"docker://{reference}")
