"""Build glue: the metadata lives in pyproject.toml; this file only wires the cffi C module.

The C kernels are optional at install time: where no working compiler exists the package is
installed without them, ``import fastconv`` still works, and the C implementations report the
build failure as their reason for being unavailable.
"""
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """build_ext that warns instead of failing when the C extension cannot be compiled."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler at all, missing headers, ...
            self._report(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._report(exc)

    @staticmethod
    def _report(exc):
        print(f"fastconv: WARNING: the C kernels were not built ({exc}); the C implementations "
              "will be unavailable", file=sys.stderr)


# cffi builds the module against CPython's stable ABI (fastconv/_native.abi3.so: Py_LIMITED_API),
# so the wheel is tagged abi3 and one binary serves every CPython from requires-python's 3.10 on.
setup(cffi_modules=["csrc/build_ffi.py:ffibuilder"], cmdclass={"build_ext": OptionalBuildExt},
      options={"bdist_wheel": {"py_limited_api": "cp310"}})
