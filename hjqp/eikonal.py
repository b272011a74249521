"""Eikonal equations with scikit-fmm's conventions (``import hjqp.eikonal as
skfmm``): the public path of :mod:`hjqp.solve.eikonal`."""

from .solve.eikonal import distance, point_source, travel_time

__all__ = ["distance", "travel_time", "point_source"]
