"""The suite stands on its own: a user's machine has the repository and nothing beside it.

The project keeps its reference material in a shared folder beside the checkout (../shared); the
tests read committed copies in tests/data/ instead (see its README). A copy of the repository with
no ../shared collects and sets up every test without an error or a skip, and no test file names a
path outside the repository."""

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Kernel interfaces, not fixtures: a test may read /proc/self/status to measure memory.
SYSTEM_PATHS = ("/proc/", "/sys/", "/dev/")


def _copy_of_the_repository(dest: Path) -> Path:
    """The checkout's files (not its environment, caches or git objects) copied to dest."""
    ignore = shutil.ignore_patterns(
        ".git", ".venv", ".cache", "out", "__pycache__", ".pytest_cache", "*.egg-info"
    )
    shutil.copytree(ROOT, dest, ignore=ignore)
    return dest


@pytest.mark.slow
def test_a_copy_with_nothing_beside_it_collects_and_sets_up_every_test(tmp_path):
    repo = _copy_of_the_repository(tmp_path / "repo")
    assert not repo.with_name("shared").exists()
    env = {**os.environ, "PYTHONPATH": str(repo)}  # srlab from the copy, too
    # --setup-only collects every test and runs its setup: module-level reads, fixtures and
    # skipif marks, everything that once read ../shared, without running the test bodies.
    cmd = [sys.executable, "-m", "pytest", "--setup-only", "-q", "-rs", "-p", "no:cacheprovider"]
    cmd += ["-p", "no:xdist"]
    run = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    summary = run.stdout.strip().splitlines()[-1]
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert summary.startswith("no tests ran") and "skipped" not in summary, summary
    reported = [line for line in run.stdout.splitlines() if line.startswith(("SKIPPED", "ERROR"))]
    assert reported == []
    # The reference checks whose body once skipped without ../shared run in full.
    cmd = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-p", "no:xdist"]
    cmd += ["tests/test_papers.py", "tests/test_metrics.py"]
    run = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    summary = run.stdout.strip().splitlines()[-1]
    assert run.returncode == 0 and "passed" in summary, run.stdout[-3000:] + run.stderr[-3000:]
    assert "skipped" not in summary, run.stdout[-3000:]


def _outside_paths(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string in `source` that names a file outside the repository: an
    existing absolute path (kernel interfaces aside), a path that climbs out with "..", or
    "shared" joined onto a path with /."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and "\n" not in node.value
        ):
            parts = PurePosixPath(node.value).parts
            climbs = len(parts) > 1 and ".." in parts
            absolute = len(parts) > 1 and parts[0] == "/" and f"/{parts[1]}/" not in SYSTEM_PATHS
            if climbs or (absolute and _exists_outside(Path(node.value))):
                found.append((node.lineno, node.value))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            for side in (node.left, node.right):
                if isinstance(side, ast.Constant) and str(side.value).startswith("shared"):
                    found.append((node.lineno, side.value))
    return sorted(found)


def _exists_outside(path: Path) -> bool:
    try:
        return path.exists() and ROOT not in path.resolve().parents
    except OSError:  # a name too long to be a path
        return False


def test_no_test_names_a_path_outside_the_repository():
    files = sorted((ROOT / "tests").rglob("*.py"))
    assert len(files) > 20
    offending = {
        f"{path.relative_to(ROOT)}:{line}": text
        for path in files
        for line, text in _outside_paths(path.read_text(encoding="utf-8"))
    }
    assert offending == {}


def test_the_path_check_sees_what_it_is_for():
    here = str(Path(__file__).resolve().parents[2])  # the folder that holds the checkout
    bad = f'A = "{here}"\nB = ROOT.parent / "shared" / "x"\nC = "../shared/x"\nD = "/proc/self"\n'
    assert [line for line, _ in _outside_paths(bad)] == [1, 2, 3]
