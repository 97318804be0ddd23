"""ArtifactGenerator copy rules: cp-like paths, globs, excludes and strategies."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
import yaml

from source_controller.generate import CopyError, apply_rule, rule_of


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def listing(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*"))
            if p.is_file()}  # fmt: skip


SOURCE = {
    "deploy/a.yaml": "a: 1\n",
    "deploy/README.md": "read me\n",
    "deploy/sub/b.yaml": "b: 1\n",
    "deploy/sub/testdata/t.yaml": "t: 1\n",
    "values.yaml": "image: {tag: v1, repo: x}\nlist: [1, 2]\n",
}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"from": "@s/values.yaml", "to": "@artifact/apps/app.yaml"}, ["apps/app.yaml"]),
        ({"from": "@s/values.yaml", "to": "@artifact/apps/"}, ["apps/values.yaml"]),
        ({"from": "@s/deploy/*.yaml", "to": "@artifact/x/"}, ["x/a.yaml"]),
        ({"from": "@s/deploy/", "to": "@artifact/x/"},
         ["x/deploy/README.md", "x/deploy/a.yaml", "x/deploy/sub/b.yaml",
          "x/deploy/sub/testdata/t.yaml"]),
        ({"from": "@s/deploy/**", "to": "@artifact/",
          "exclude": ["*.md", "**/testdata/**"]}, ["a.yaml", "sub/b.yaml"]),
        ({"from": "@s/deploy/**", "to": "@artifact/", "exclude": ["sub/**"]},
         ["README.md", "a.yaml"]),
    ],
)  # fmt: skip
def test_copy_paths(tmp_path: Path, rule: dict[str, object], expected: list[str]) -> None:
    src, out = tree(tmp_path / "src", SOURCE), tmp_path / "out"
    out.mkdir()
    apply_rule(rule_of(rule), src, out)
    assert sorted(listing(out)) == expected


def test_merge_and_extract(tmp_path: Path) -> None:
    src, out = tree(tmp_path / "src", SOURCE), tmp_path / "out"
    tree(out, {"chart/values.yaml": "image: {tag: v0, pull: Always}\nlist: [9]\n"})
    apply_rule(rule_of({"from": "@s/values.yaml", "to": "@artifact/chart/values.yaml",
                        "strategy": "Merge"}), src, out)  # fmt: skip
    merged = yaml.safe_load((out / "chart/values.yaml").read_text())
    assert merged == {"image": {"tag": "v1", "pull": "Always", "repo": "x"}, "list": [1, 2]}

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"name: demo\n"
        info = tarfile.TarInfo("demo/Chart.yaml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    (src / "charts").mkdir()
    (src / "charts/demo-1.0.0.tgz").write_bytes(buf.getvalue())
    apply_rule(rule_of({"from": "@s/charts/*", "to": "@artifact/charts/",
                        "strategy": "Extract"}), src, out)  # fmt: skip
    assert listing(out)["charts/demo/Chart.yaml"] == "name: demo\n"
    with pytest.raises(CopyError, match=r"not a \.tar\.gz"):
        apply_rule(rule_of({"from": "@s/values.yaml", "to": "@artifact/",
                            "strategy": "Extract"}), src, out)  # fmt: skip


def test_overlaps_and_escapes_are_refused(tmp_path: Path) -> None:
    src, out = tree(tmp_path / "src", SOURCE), tmp_path / "out"
    out.mkdir()
    apply_rule(rule_of({"from": "@s/values.yaml", "to": "@artifact/apps"}), src, out)
    with pytest.raises(CopyError, match="overlap"):
        apply_rule(rule_of({"from": "@s/deploy/a.yaml", "to": "@artifact/apps/"}), src, out)
    with pytest.raises(CopyError, match="leaves the artifact"):
        rule_of({"from": "@s/values.yaml", "to": "@artifact/../x"})
    with pytest.raises(CopyError, match="does not exist"):
        apply_rule(rule_of({"from": "@s/nothere.yaml", "to": "@artifact/"}), src, out)
