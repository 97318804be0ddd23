"""A build that multiplies a small artifact into a flood of YAML is refused at the limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from eddy_kustomize import build
from eddy_kustomize.generate import BuildError
from eddy_testenv.process import find_binary


async def test_output_past_the_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 40 ConfigMaps generated from the same 64 KiB file: 2.5 MiB of output from
    # 64 KiB of input; the same shape scales to any size.
    root = tmp_path / "artifact"
    root.mkdir()
    (root / "data.txt").write_text("x" * (64 << 10))
    generators = "".join(f"  - name: copy-{i}\n    files: [data.txt]\n" for i in range(40))
    (root / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"configMapGenerator:\n{generators}"
    )
    binary = build.kustomize_binary(find_binary("kustomize"))
    assert len(await build.run_kustomize(binary, root, root, 60)) > 2 << 20
    monkeypatch.setattr(build, "MAX_OUTPUT", 1 << 20)
    with pytest.raises(BuildError, match="output of kustomize build is larger than 1 MiB"):
        await build.run_kustomize(binary, root, root, 60)
