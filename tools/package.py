"""Builds the code directory that template.yml deploys (`make package`), without Docker.

Layout, as FC's python3.10 runtime expects it with `PYTHONPATH=/code/python`:

    build/code/index.py, dmcode/ ...   the function's own source (from function/)
    build/code/python/                 the dependencies of requirements.txt

Two things decide how it is built, both checked on real machines:

- pip evaluates environment markers against the interpreter that runs it, whatever
  `--python-version` says, so the install runs under a Python 3.10 (a 3.11 pip drops
  `async-timeout`, and the function then fails to import on FC).
- FC's code directory is read-only, so Python cannot cache bytecode there: the package
  ships `.pyc` files compiled by 3.10 in unchecked-hash mode, which stay valid after the
  zip upload has changed every mtime.

The build happens in a temporary directory beside the target and replaces the target
only once it is complete, so a failed build never leaves half a package behind.
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "function"
REQUIREMENTS = ROOT / "requirements.txt"
OUTPUT = ROOT / "build" / "code"
FIND_PYTHON310 = ROOT / "tools" / "python310.sh"
PLATFORM = "manylinux2014_x86_64"
# Pinned requirements published as sdists only. Pure Python, so a wheel built here is the
# same code on every Python and platform; any other sdist stays refused (no compiler).
PURE_PYTHON_SDISTS = ("alibabacloud-endpoint-util",)
# Where FC mounts the code; compiled files name their sources under it (as tracebacks
# on FC will), not under the temporary build directory.
FC_CODE_DIR = "/code"

# Never shipped from function/: bytecode of whatever Python the developer ran, test
# code, local secrets and editor or tool droppings.
SOURCE_IGNORE = (
    "__pycache__",
    "*.pyc",
    "*.pyo",
    "tests",
    "test_*.py",
    "*_test.py",
    "conftest.py",
    ".env",
    ".env.*",
    ".fcignore",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "*.egg-info",
    ".DS_Store",
)


class PackageError(Exception):
    """The package could not be built; the message says why and what to do."""


@dataclass(frozen=True)
class Package:
    """What was built, as `make package` reports it."""

    path: Path
    python: str
    files: int
    size: int
    zipped_size: int

    def summary(self) -> str:
        return (
            f"built {self.path} with {self.python}: {self.files} files, "
            f"{_mib(self.size)} unpacked, {_mib(self.zipped_size)} zipped"
        )


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def _python_version(python: str) -> tuple[int, int] | None:
    try:
        result = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    major, _, minor = result.stdout.strip().partition(".")
    return int(major), int(minor)


def find_python310(explicit: str | None = None) -> str:
    """The interpreter that installs and compiles: `explicit`, this one if it is 3.10,
    or the one tools/python310.sh finds."""
    if explicit is not None:
        if _python_version(explicit) != (3, 10):
            raise PackageError(f"{explicit} is not a working Python 3.10")
        return explicit
    if (sys.version_info.major, sys.version_info.minor) == (3, 10):
        return sys.executable
    result = subprocess.run(
        ["bash", str(FIND_PYTHON310)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise PackageError(result.stderr.strip() or "no Python 3.10 found")
    return result.stdout.strip()


def _run(command: list[str], what: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise PackageError(f"{what} failed ({result.returncode}):\n{output}")


def _copy_source(source: Path, target: Path) -> None:
    if not (source / "index.py").is_file():
        raise PackageError(f"{source} has no index.py: nothing to package")
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*SOURCE_IGNORE))


def _pure_python_wheels(python: str, requirements: Path, wheelhouse: Path) -> None:
    """Builds the wheels of PURE_PYTHON_SDISTS pinned in `requirements`, and checks
    that each is pure Python (`py3-none-any`)."""
    for line in requirements.read_text().splitlines():
        spec = line.split("#")[0].strip()
        if spec.partition("==")[0].strip().lower() not in PURE_PYTHON_SDISTS:
            continue
        _run(
            [
                python,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
                "--no-deps",
                # An isolated build with current setuptools and wheel, whatever this
                # Python has installed.
                "--use-pep517",
                "--wheel-dir",
                str(wheelhouse),
                spec,
            ],
            f"pip wheel {spec}",
        )
    foreign = [w.name for w in wheelhouse.glob("*.whl") if not w.name.endswith("-py3-none-any.whl")]
    if foreign:
        raise PackageError(f"not pure Python, needs a published wheel: {', '.join(foreign)}")


def _install_requirements(python: str, requirements: Path, target: Path) -> None:
    has_pip = subprocess.run([python, "-m", "pip", "--version"], capture_output=True, check=False)
    if has_pip.returncode != 0:
        raise PackageError(f"{python} has no pip; add it with: {python} -m ensurepip --upgrade")
    with tempfile.TemporaryDirectory(prefix="wheelhouse-") as built_wheels:
        wheelhouse = Path(built_wheels)
        _pure_python_wheels(python, requirements, wheelhouse)
        _pip_install(python, requirements, target, wheelhouse)
    # Console scripts whose first line names the build machine's interpreter; nothing
    # on FC runs them and nothing imports them.
    shutil.rmtree(target / "bin", ignore_errors=True)


def _pip_install(python: str, requirements: Path, target: Path, wheelhouse: Path) -> None:
    _run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            "--no-compile",
            "--target",
            str(target),
            "--platform",
            PLATFORM,
            "--only-binary=:all:",
            "--python-version",
            "3.10",
            "--implementation",
            "cp",
            "--find-links",
            str(wheelhouse),
            "-r",
            str(requirements),
        ],
        "pip install",
    )


def _drop_foreign_bytecode(tree: Path) -> None:
    """Removes bytecode that Python 3.10 would never load (wheels rarely ship some)."""
    for pyc in tree.rglob("*.py[co]"):
        if pyc.parent.name != "__pycache__" or ".cpython-310." not in pyc.name:
            pyc.unlink()


def _compile(python: str, tree: Path) -> None:
    _run(
        [
            python,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            "-s",
            str(tree),
            "-p",
            FC_CODE_DIR,
            str(tree),
        ],
        "compileall",
        # Sets of constants are marshalled in hash order: a fixed seed keeps it stable.
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )


def _normalise_modes(tree: Path) -> None:
    """Readable by any user, as FC's runtime user needs; writable only by the owner."""
    tree.chmod(0o755)
    for path in tree.rglob("*"):
        if path.is_symlink():
            continue
        executable = path.is_dir() or path.stat().st_mode & stat.S_IXUSR
        path.chmod(0o755 if executable else 0o644)


def _measure(tree: Path) -> tuple[int, int, int]:
    """(file count, unpacked bytes, bytes of the zip that deploy uploads)."""
    files = [path for path in sorted(tree.rglob("*")) if path.is_file()]
    size = sum(path.stat().st_size for path in files)
    with tempfile.TemporaryFile() as handle:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, path.relative_to(tree).as_posix())
        zipped = handle.tell()
    return len(files), size, zipped


def _replace(built: Path, output: Path) -> None:
    if not output.exists():
        built.rename(output)
        return
    previous = output.with_name(f".{output.name}.previous-{os.getpid()}")
    output.rename(previous)
    built.rename(output)
    shutil.rmtree(previous)


def build(
    output: Path = OUTPUT,
    *,
    python: str | None = None,
    source: Path = SOURCE,
    requirements: Path = REQUIREMENTS,
) -> Package:
    """Builds the code directory at `output`, replacing what was there only on success."""
    interpreter = find_python310(python)
    output = output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{output.name}.building-", dir=output.parent))
    try:
        tree = work / "code"
        _copy_source(source, tree)
        _install_requirements(interpreter, requirements, tree / "python")
        _drop_foreign_bytecode(tree)
        _compile(interpreter, tree)
        _normalise_modes(tree)
        files, size, zipped = _measure(tree)
        _replace(tree, output)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Package(output, interpreter, files, size, zipped)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Builds the code directory that template.yml deploys."
    )
    parser.add_argument("--out", type=Path, default=OUTPUT, help="code directory to build")
    parser.add_argument("--python", help="Python 3.10 to install and compile with")
    parser.add_argument("--source", type=Path, default=SOURCE, help="the function's source")
    parser.add_argument("--requirements", type=Path, default=REQUIREMENTS)
    args = parser.parse_args(argv)
    try:
        package = build(
            args.out, python=args.python, source=args.source, requirements=args.requirements
        )
    except PackageError as error:
        print(f"package: {error}", file=sys.stderr)
        return 1
    print(package.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
