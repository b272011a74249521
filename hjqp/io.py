"""Save and load results: the public path of :mod:`hjqp.report.io`."""

from .report.io import jsonable, load, save

__all__ = ["save", "load", "jsonable"]
