"""cffi API-mode builder for fastconv's C kernels (wired from setup.py's ``cffi_modules``).

The cdef is csrc/fastconv.h itself, minus its preprocessor lines, so the header is the single
statement of the C interface. Every ``csrc/*.c`` is compiled; ISA-specific files select their
instruction set with target pragmas (internal.h), so the default flags never include
``-march=native`` and the module runs on any x86-64. Users add flags with ``FASTCONV_CFLAGS``
(e.g. ``FASTCONV_CFLAGS="-march=native"``). Parallel loops run on the kernels' own thread pool
(parallel.c, POSIX threads): no OpenMP runtime is linked.
"""
import os
import pathlib
import shlex

from cffi import FFI

CSRC = pathlib.Path(__file__).resolve().parent
HEADER = CSRC / "fastconv.h"


def header_cdef(text: str) -> str:
    """The header's declarations as cffi wants them: no #include, #ifndef, #define lines."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


# -O3 for vectorisation; no -ffast-math, so NaN and Inf propagate as IEEE says; -std=c99 keeps
# the kernels portable C apart from the target pragmas and intrinsics of the ISA files.
BASE_CFLAGS = ["-O3", "-std=c99", "-fno-math-errno", "-Wall", "-Wno-unknown-pragmas"]
USER_CFLAGS = shlex.split(os.environ.get("FASTCONV_CFLAGS", ""))

ffibuilder = FFI()
ffibuilder.cdef(header_cdef(HEADER.read_text()))
ffibuilder.set_source(
    "fastconv._native",
    '#include "fastconv.h"\n',
    sources=sorted(str(p.relative_to(CSRC.parent)) for p in CSRC.glob("*.c")),
    include_dirs=[str(CSRC.relative_to(CSRC.parent))],
    depends=sorted(str(p.relative_to(CSRC.parent)) for p in CSRC.glob("*.h")),  # rebuild on edits
    # -pthread: the kernels' thread pool (parallel.c)
    extra_compile_args=BASE_CFLAGS + ["-pthread"] + USER_CFLAGS,
    # FASTCONV_CFLAGS reaches the link too: flags such as -fsanitize=address need both steps
    extra_link_args=["-pthread"] + USER_CFLAGS,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
