"""Figures from hjqp results: the public path of :mod:`hjqp.report.plot`."""

from .report.plot import *  # noqa: F401,F403
from .report.plot import __all__  # noqa: F401
