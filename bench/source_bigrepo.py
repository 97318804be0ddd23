"""Benchmark of one large repository: our fetch + artifact against git clone + tar czf.

A repository of 5,000 files / 50 MB is served over smart HTTP; the source-controller's
own path (ls-remote, shallow fetch, checkout, ignore rules, deterministic tar.gz) is
timed against `git clone --depth 1` followed by `tar czf` of the same tree, in the
same run, and the ratio is printed (target <= 1.5). Repeats: argv[1] (default 3).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from eddy_artifacts.archive import build_archive
from eddy_artifacts.ignore import source_ignore_rules
from eddy_testenv.gitserver import GitHTTPServer, GitRepos, git
from source_controller.git import GitAuth, checkout, list_refs, resolve

FILES = 5000
TOTAL_BYTES = 50 * 1024 * 1024
WORDS = [f"{w}" for w in ("apiVersion", "kind", "metadata", "name", "spec", "replicas",
                          "image", "labels", "app", "value", "true", "false")]  # fmt: skip


def make_repo(repos: GitRepos, work: Path) -> None:
    """A working tree of FILES files totalling TOTAL_BYTES, committed and made bare.

    Half of each file is YAML-like text and half random bytes in hex, so gzip has
    realistic work to do: neither all-compressible nor incompressible.
    """
    rng = random.Random(42)
    tree = work / "tree"
    size = TOTAL_BYTES // FILES
    for i in range(FILES):
        path = tree / f"dir{i % 50:02d}" / f"sub{i % 7}" / f"file{i:05d}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = " ".join(rng.choice(WORDS) for _ in range(size // 14))[: size // 2]
        noise = rng.randbytes(size // 4).hex()
        path.write_text(text + "\n" + noise + "\n")
    git("init", "--quiet", "--initial-branch=main", cwd=tree)
    git("add", "-A", cwd=tree)
    git("commit", "--quiet", "-m", "big", cwd=tree)
    git("clone", "--quiet", "--bare", str(tree), str(repos.path("big")))


async def ours(url: str, work: Path) -> float:
    started = time.perf_counter()
    auth = GitAuth()
    refs = await list_refs(url, auth, 600)
    target = resolve({"branch": "main"}, refs)
    tree = work / "ours-tree"
    tree.mkdir()
    await checkout(url, auth, 600, target, tree)
    rules = await asyncio.to_thread(source_ignore_rules, tree, None)
    await asyncio.to_thread(build_archive, tree, work / "ours.tar.gz", rules.ignored)
    return time.perf_counter() - started


def theirs(url: str, work: Path) -> float:
    started = time.perf_counter()
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    subprocess.run(["git", "clone", "--quiet", "--depth", "1", url, str(work / "theirs-tree")],
                   check=True, env=env)  # fmt: skip
    subprocess.run(["tar", "czf", str(work / "theirs.tar.gz"), "--exclude=.git", "-C",
                    str(work / "theirs-tree"), "."], check=True)  # fmt: skip
    return time.perf_counter() - started


def main() -> int:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with tempfile.TemporaryDirectory(prefix="eddy-bench-big-") as tmp:
        root = Path(tmp)
        repos = GitRepos(root / "repos")
        made = time.perf_counter()
        make_repo(repos, root / "src")
        print(f"repository: {FILES} files, {TOTAL_BYTES >> 20} MiB "
              f"(made in {time.perf_counter() - made:.1f} s)")  # fmt: skip
        ratios, our_times, their_times = [], [], []
        with GitHTTPServer(repos) as server:
            url = server.repo_url("big")
            for i in range(repeats):
                work = root / f"run{i}"
                work.mkdir()
                a = asyncio.run(ours(url, work))
                b = theirs(url, work)
                our_times.append(a)
                their_times.append(b)
                ratios.append(a / b)
                size = (work / "ours.tar.gz").stat().st_size >> 20
                print(f"run {i + 1}: eddy {a:.2f} s, git clone --depth 1 + tar czf {b:.2f} s, "
                      f"ratio {a / b:.2f} (artifact {size} MiB)")  # fmt: skip
                shutil.rmtree(work)
        print(f"median: eddy {statistics.median(our_times):.2f} s, "
              f"git+tar {statistics.median(their_times):.2f} s, "
              f"ratio {statistics.median(ratios):.2f} (target <= 1.5)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
