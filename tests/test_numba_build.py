"""Numba compiles fastconv's kernels with LLVM's SLP vectoriser on (see fastconv/__init__.py):
without it the numba microkernels run ten times slower and the slow code lands in the cache."""
import os
import subprocess
import sys


def test_importing_fastconv_turns_slp_on_before_numba_compiles():
    code = ("import fastconv, numba; from fastconv.backends import numba_cpu; "
            "print(numba.config.SLP_VECTORIZE)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={k: v for k, v in os.environ.items()
                                 if k != "NUMBA_SLP_VECTORIZE"}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"
