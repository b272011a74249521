"""Ctrl-C for everything a call of the API starts, on whichever thread.

Python raises KeyboardInterrupt in the main thread only. The kernel stops
its work on every thread when Ctrl-C comes while that work runs (a
process-wide count of Ctrl-Cs, see cpp/bindings/common.hpp); a call
widens this to the kernel work it starts later: a call that runs on a
worker thread (a ThreadPoolExecutor) when Ctrl-C comes goes on with its
Python steps, but each kernel step it starts afterwards stops at once
with KeyboardInterrupt, instead of running to the end.

Public functions that run kernel work are wrapped in :func:`interruptible`;
work they hand to threads of their own runs under :func:`carried`.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Callable, Iterator, Optional, TypeVar

from . import _core

__all__ = ["call", "interruptible", "carried", "check"]

F = TypeVar("F", bound=Callable)


@contextlib.contextmanager
def call(start: Optional[int] = None) -> Iterator[int]:
    """An API call on this thread (nested calls join the outermost); with
    ``start``, the work of a call begun on another thread. Yields the
    call's start."""
    begun = _core.enter_call(start)
    try:
        yield begun
    finally:
        _core.exit_call()


def interruptible(fn: F) -> F:
    """``fn`` run as an API call (see :func:`call`)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with call():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def carried(fn: Callable) -> Callable:
    """``fn`` for another thread of this process, run as part of the call
    running here (Ctrl-C since it began stops its kernel work)."""
    with call() as start:  # the running call's start (now, if none runs)
        pass

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with call(start):
            return fn(*args, **kwargs)

    return wrapper


def check() -> None:
    """KeyboardInterrupt if Ctrl-C came since the call running on this
    thread began: for long Python steps of a call (sampling fields on a
    large grid) on a worker thread, where Python raises none."""
    if _core.cancelled():
        raise KeyboardInterrupt
