"""Build the compiled kernel hjqp._core (C++17, pybind11).

HJQP_SANITIZE=1 builds it with AddressSanitizer and UndefinedBehaviorSanitizer
(-O1 -g, UB aborts); such a build must run with the ASan runtime preloaded:

    HJQP_SANITIZE=1 python setup.py build_ext --inplace
    LD_PRELOAD=$(c++ -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0 \\
        python -m pytest tests/test_fuzz.py ...

(.ci/sanitize does exactly this on a copy of the tree.)
"""

import os
from glob import glob

from pybind11.setup_helpers import ParallelCompile, Pybind11Extension, build_ext
from setuptools import setup

# The binding's files compile in parallel (NPY_NUM_BUILD_JOBS=n to choose).
ParallelCompile("NPY_NUM_BUILD_JOBS").install()

# -ffp-contract=off: no fused multiply-adds behind our back, so results are
# bit-identical on machines with and without FMA units.
compile_args = ["-O3", "-ffp-contract=off", "-fno-math-errno", "-pthread"]
link_args = ["-pthread"]
if os.environ.get("HJQP_SANITIZE", "") not in ("", "0"):
    sanitize = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer"]
    compile_args = ["-O1", "-g", "-ffp-contract=off", "-fno-math-errno", "-pthread"] + sanitize
    link_args = ["-pthread"] + sanitize

ext = Pybind11Extension(
    "hjqp._core",
    sorted(glob("cpp/bindings/*.cpp")),
    include_dirs=["cpp/include"],
    depends=sorted(glob("cpp/include/hjqp/**/*.hpp", recursive=True) + glob("cpp/bindings/*.hpp")),
    cxx_std=17,
    extra_compile_args=compile_args,
    extra_link_args=link_args,
)

setup(ext_modules=[ext], cmdclass={"build_ext": build_ext})
