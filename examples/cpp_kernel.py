"""Use the hjqp kernel from C++: build examples/cpp/ (CMake, target
hjqp::kernel from cpp/CMakeLists.txt) and run it.

The kernel is header-only C++17 (cpp/include/hjqp/). In a CMake project:

    add_subdirectory(path/to/hjqp/cpp)
    target_link_libraries(my_solver PRIVATE hjqp::kernel)

or, without CMake, compile with -std=c++17 -Ipath/to/hjqp/cpp/include -pthread.
This script builds with CMake when it is installed, else with the C++
compiler directly, and runs the program (the linear rotational test).

    python examples/cpp_kernel.py [--grid N] [--build DIR]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def build(build_dir: str) -> str:
    source = os.path.join(HERE, "cpp")
    if shutil.which("cmake"):
        subprocess.run(["cmake", "-S", source, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release"], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["cmake", "--build", build_dir], check=True, stdout=subprocess.DEVNULL)
        return os.path.join(build_dir, "linear_quasipotential")
    compiler = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if compiler is None:
        sys.exit("no C++ compiler found (set CXX)")
    exe = os.path.join(build_dir, "linear_quasipotential")
    subprocess.run([compiler, "-std=c++17", "-O2", "-pthread", "-I", os.path.join(HERE, "..", "cpp", "include"),
                    os.path.join(source, "linear_quasipotential.cpp"), "-o", exe], check=True)
    return exe


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", type=int, default=257)
    parser.add_argument("--build", default=None, help="build folder (default: a temporary one)")
    args = parser.parse_args(argv)
    build_dir = args.build or tempfile.mkdtemp(prefix="hjqp-cpp-")
    os.makedirs(build_dir, exist_ok=True)
    exe = build(build_dir)
    done = subprocess.run([exe, str(args.grid)], capture_output=True, text=True)
    print(done.stdout.strip())
    if done.returncode != 0:
        sys.exit(f"the C++ example failed: {done.stderr.strip()}")
    return done.stdout


if __name__ == "__main__":
    main()
