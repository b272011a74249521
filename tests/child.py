"""Python child processes that import the same hjqp as the tests.

A child started in the source tree would import the unbuilt package there
(the current directory comes first on its path), not the installed one the
tests use; so it runs in a scratch directory with the tested package's root
on its path.
"""

import os
import subprocess
import sys
import tempfile

import hjqp


def environment(**extra):
    root = os.path.dirname(os.path.dirname(os.path.abspath(hjqp.__file__)))
    path = os.pathsep.join([root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    return dict(os.environ, PYTHONPATH=path, **extra)


def run(code, **kwargs):
    """subprocess.run of `python -c code` outside the source tree."""
    with tempfile.TemporaryDirectory() as scratch:
        return subprocess.run([sys.executable, "-c", code], env=environment(), cwd=scratch, **kwargs)


def start(code, cwd, **extra):
    """subprocess.Popen of `python -c code` in cwd, with text pipes."""
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=environment(**extra), cwd=cwd)
