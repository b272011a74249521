"""Build the compiled kernel hjqp._core (C++17, pybind11)."""

from glob import glob

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup

ext = Pybind11Extension(
    "hjqp._core",
    ["cpp/bindings.cpp"],
    include_dirs=["cpp/include"],
    depends=sorted(glob("cpp/include/hjqp/*.hpp")),
    cxx_std=17,
    # -ffp-contract=off: no fused multiply-adds behind our back, so results
    # are bit-identical on machines with and without FMA units.
    extra_compile_args=["-O3", "-ffp-contract=off", "-fno-math-errno", "-pthread"],
    extra_link_args=["-pthread"],
)

setup(ext_modules=[ext], cmdclass={"build_ext": build_ext})
