"""Inventar collector: stores reports, evaluates policies, exports metrics."""

__version__ = "0.1.0"
