"""Declares the Cython extensions; metadata lives in pyproject.toml."""

import glob
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("BWC_DEBUG") == "1"

directives = {
    "language_level": 3,
    "embedsignature": True,
    "binding": False,
}
macros = []
if DEBUG:
    directives.update({"linetrace": True, "boundscheck": True, "wraparound": True})
    macros.append(("CYTHON_TRACE_NOGIL", "1"))

extra_compile_args = ["-O0", "-g"] if DEBUG else ["-O3"]


def _name(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


extensions = [
    Extension(
        f"bwc_core.{_name(path)}",
        [path],
        define_macros=macros,
        extra_compile_args=extra_compile_args,
    )
    # src_cython/bwc_core/ mirrors the package: each .pxd sits beside its .pyx, so
    # Cython finds it and cythonize's dependency tracking regenerates the C of every
    # module that uses a changed .pxd.
    for path in sorted(glob.glob(os.path.join("src_cython", "bwc_core", "*.pyx")))
]

setup(ext_modules=cythonize(extensions, compiler_directives=directives, include_path=["src_cython"]))
