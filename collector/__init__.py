"""Inventar collector: stores reports, evaluates policies, exports metrics."""
