"""Declares the Cython extensions; metadata lives in pyproject.toml."""

import glob
import os
import sys

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

# dlopen/dlsym live in libdl before glibc 2.34 (an empty stub after it).
libraries = {"_sodium": ["dl"]} if sys.platform.startswith("linux") else {}


def _name(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


extensions = [
    Extension(
        f"bwc_core.{_name(path)}",
        [path],
        define_macros=macros,
        extra_compile_args=extra_compile_args,
        libraries=libraries.get(_name(path), []),
    )
    for path in sorted(glob.glob(os.path.join("src_cython", "*.pyx")))
]

setup(ext_modules=cythonize(extensions, compiler_directives=directives))
