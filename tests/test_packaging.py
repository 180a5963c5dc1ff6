"""The release packaging: the sdist holds everything the build reads, and metadata built from the
unpacked sdist is whole.

The sdist is built with `build` from a copy of the source tree as a clean clone has it (git's
tracked files and the new files it does not ignore), unpacked, and checked against what the
build reads: setup.py's ``cffi_modules`` script, every ``csrc/*.c`` and ``csrc/*.h`` (the
builder, csrc/build_ffi.py, compiles every .c and lists every .h), the headers the C files
include, and the package's modules. Then setuptools writes the wheel's metadata from the
unpacked sdist: the step that runs setup.py's ``cffi_modules`` hook, where a sdist without the
builder script fails. Compiling the wheel takes minutes: tools/build_wheel.sh does that (CI runs
it). Skipped where `build` is not installed or where the tests run outside a source tree (next
to an installed wheel).
"""
import email
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import fastconv

ROOT = Path(__file__).resolve().parents[1]
IN_SOURCE_TREE = (ROOT / "setup.py").is_file() and (ROOT / "csrc").is_dir()
needs_source = pytest.mark.skipif(not IN_SOURCE_TREE,
                                  reason="not run from a source tree (no setup.py, csrc/)")
# the extras the README and the issue tracker promise; pyproject.toml may add more
EXTRAS = {"test", "torch", "dask", "peers", "plot", "cuda"}
# build outputs that must never reach a source release
BUILD_OUTPUTS = ("*.so", "*.o", "*.pyc", "__pycache__", "build", "dist", "*.egg-info", ".git",
                 ".venv", ".hypothesis", ".pytest_cache", ".benchmarks")


def _clean_env() -> dict:
    """The environment for the build tools: no preloaded sanitizer runtime (.ci/sanitize runs
    pytest under LD_PRELOAD=libasan), no extra C flags."""
    return {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "FASTCONV_CFLAGS")}


def _copy_source_tree(dest: Path) -> None:
    """The files a clean clone would have (plus new, unignored ones); a plain copy less build
    outputs where git is absent (the tree is itself a copy, as .ci/sanitize makes)."""
    try:
        listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
                                 "--exclude-standard"], capture_output=True, check=True,
                                timeout=60).stdout.decode().split("\0")
        top = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--show-toplevel"],
                             capture_output=True, text=True, check=True).stdout.strip()
        if Path(top).resolve() != ROOT:
            raise RuntimeError("the source tree is not the git work tree's top")
    except (OSError, subprocess.SubprocessError, RuntimeError):
        shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(*BUILD_OUTPUTS))
        return
    for name in filter(None, listed):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    """(sdist file, its unpacked top folder)."""
    build = pytest.importorskip("build", reason="`build` is not installed (pip install build)")
    if not hasattr(build, "ProjectBuilder"):  # a build/ output folder, seen as a namespace
        pytest.skip("`build` is not installed (pip install build)")
    if not IN_SOURCE_TREE:
        pytest.skip("not run from a source tree (no setup.py, csrc/)")
    tmp = tmp_path_factory.mktemp("sdist")
    src, out, unpacked = tmp / "src", tmp / "out", tmp / "unpacked"
    _copy_source_tree(src)
    result = subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation",
                             "--skip-dependency-check", "--outdir", str(out), str(src)],
                            capture_output=True, text=True, timeout=300, env=_clean_env(), cwd=tmp)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (archive,) = out.glob("fastconv-*.tar.gz")
    with tarfile.open(archive) as tar:
        # the "data" filter where this Python has it (3.10.12+, 3.11.4+): plain files only
        kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(unpacked, **kwargs)
    (top,) = unpacked.iterdir()
    return archive, top


def _checkout_files(pattern: str) -> set[str]:
    return {p.relative_to(ROOT).as_posix() for p in ROOT.glob(pattern)
            if "__pycache__" not in p.parts}


def _sdist_files(top: Path) -> set[str]:
    return {p.relative_to(top).as_posix() for p in top.rglob("*") if p.is_file()}


@needs_source
def test_sdist_holds_everything_the_build_reads(sdist):
    archive, top = sdist
    files = _sdist_files(top)
    setup_text = (ROOT / "setup.py").read_text()
    cffi_modules = re.findall(r"""["']([^"':]+\.py):\w+["']""",
                              re.search(r"cffi_modules\s*=\s*\[([^\]]*)\]", setup_text).group(1))
    assert cffi_modules == ["csrc/build_ffi.py"], cffi_modules
    needed = ({"pyproject.toml", "setup.py", "README.md", "MANIFEST.in", *cffi_modules}
              | _checkout_files("csrc/*.c") | _checkout_files("csrc/*.h")
              | _checkout_files("fastconv/**/*.py"))
    assert not needed - files, f"missing from {archive.name}: {sorted(needed - files)}"
    # every header the C files include by quotes lies in csrc/ of the sdist
    csrc = top / "csrc"
    for source in sorted(csrc.glob("*.[ch]")):
        for header in re.findall(r'^\s*#\s*include\s+"([^"]+)"', source.read_text(), re.M):
            assert (csrc / header).is_file(), f"{source.name} includes {header}: not in the sdist"
    # the tests and what they read as their siblings travel too (the wheel check runs them)
    assert _checkout_files("tests/*.py") <= files
    assert _checkout_files("examples/*.py") | {"bench/gpu_check.py"} <= files


@needs_source
def test_sdist_holds_no_build_outputs(sdist):
    _, top = sdist
    bad = [name for name in _sdist_files(top)
           if name.endswith((".so", ".o", ".pyc")) or name == "fastconv/_native.c"]
    assert not bad, bad


@needs_source
def test_metadata_builds_from_the_unpacked_sdist(sdist, tmp_path):
    """prepare_metadata_for_build_wheel in the unpacked sdist: setup.py runs, and with it cffi's
    cffi_modules hook, which executes csrc/build_ffi.py."""
    _, top = sdist
    code = ("import sys; from build import ProjectBuilder; "
            "print(ProjectBuilder(sys.argv[1]).metadata_path(sys.argv[2]))")
    result = subprocess.run([sys.executable, "-c", code, str(top), str(tmp_path)],
                            capture_output=True, text=True, timeout=300, env=_clean_env(),
                            cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    dist_info = Path(result.stdout.strip().splitlines()[-1])
    meta = email.message_from_string((dist_info / "METADATA").read_text())
    assert meta["Name"] == "fastconv"
    assert meta["Version"] == fastconv.__version__  # the one version number: fastconv/__init__.py
    assert EXTRAS <= set(meta.get_all("Provides-Extra")), meta.get_all("Provides-Extra")
    assert meta["Description-Content-Type"] == "text/markdown"
    assert meta.get_payload().lstrip().startswith("# fastconv")  # the README, the long description
    assert meta["License-Expression"] == "MIT"
    classifiers = meta.get_all("Classifier")
    assert classifiers and not [c for c in classifiers if c.startswith("License ::")]
    assert [e for e in (dist_info / "entry_points.txt").read_text().splitlines()
            if e.replace(" ", "") == "fastconv=fastconv.cli:main"]


def test_version_is_the_installed_metadata():
    """fastconv.__version__ and the installed distribution's version are one number (pyproject
    reads it from fastconv/__init__.py); a mismatch means a stale install."""
    assert importlib.metadata.version("fastconv") == fastconv.__version__
