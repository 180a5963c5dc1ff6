"""cffi API-mode builder for fastconv's C kernels (wired from setup.py's ``cffi_modules``).

The cdef is csrc/fastconv.h itself, minus its preprocessor lines, so the header is the single
statement of the C interface. Every ``csrc/*.c`` is compiled; ISA-specific files select their
instruction set with target pragmas (internal.h), so the default flags never include
``-march=native`` and the module runs on any x86-64. Users add flags with ``FASTCONV_CFLAGS``
(e.g. ``FASTCONV_CFLAGS="-march=native"``); ``FASTCONV_NO_OPENMP=1`` builds without OpenMP.
"""
import os
import pathlib
import shlex
import subprocess
import sys
import sysconfig
import tempfile

from cffi import FFI

CSRC = pathlib.Path(__file__).resolve().parent
HEADER = CSRC / "fastconv.h"


def header_cdef(text: str) -> str:
    """The header's declarations as cffi wants them: no #include, #ifndef, #define lines."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def compiler_accepts(flags: list[str]) -> bool:
    """True when the C compiler Python was built with compiles and links a program with flags."""
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    with tempfile.TemporaryDirectory() as tmp:
        src = pathlib.Path(tmp, "probe.c")
        src.write_text("#include <omp.h>\nint main(void) { return omp_get_max_threads() < 1; }\n")
        try:
            result = subprocess.run(cc + flags + [str(src), "-o", str(pathlib.Path(tmp, "probe"))],
                                    capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return False
    return result.returncode == 0


def openmp_flags() -> list[str]:
    if os.environ.get("FASTCONV_NO_OPENMP"):
        return []
    if compiler_accepts(["-fopenmp"]):
        return ["-fopenmp"]
    print("fastconv: the compiler does not accept -fopenmp; kernels will run on one thread",
          file=sys.stderr)
    return []


# -O3 for vectorisation; no -ffast-math, so NaN and Inf propagate as IEEE says; -std=c99 keeps
# the kernels portable C apart from the target pragmas and intrinsics of the ISA files.
BASE_CFLAGS = ["-O3", "-std=c99", "-fno-math-errno", "-Wall", "-Wno-unknown-pragmas"]
OMP = openmp_flags()
USER_CFLAGS = shlex.split(os.environ.get("FASTCONV_CFLAGS", ""))

ffibuilder = FFI()
ffibuilder.cdef(header_cdef(HEADER.read_text()))
ffibuilder.set_source(
    "fastconv._native",
    '#include "fastconv.h"\n',
    sources=sorted(str(p.relative_to(CSRC.parent)) for p in CSRC.glob("*.c")),
    include_dirs=[str(CSRC.relative_to(CSRC.parent))],
    depends=sorted(str(p.relative_to(CSRC.parent)) for p in CSRC.glob("*.h")),  # rebuild on edits
    extra_compile_args=BASE_CFLAGS + OMP + USER_CFLAGS,
    # FASTCONV_CFLAGS reaches the link too: flags such as -fsanitize=address need both steps
    extra_link_args=OMP + USER_CFLAGS,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
