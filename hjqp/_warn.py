"""Warnings attributed to the caller's own code."""

from __future__ import annotations

import sys
import warnings
from typing import Type


def warn(message: str, category: Type[Warning] = RuntimeWarning) -> None:
    """``warnings.warn`` at the first frame outside the hjqp package: the
    line of the caller's code that made the call, however deep in the
    package (and its wrappers: hjqp._interrupt) the warning arises."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "hjqp":
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
