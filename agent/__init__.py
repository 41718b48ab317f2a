"""Inventar agent: reads a workstation's facts and reports them to the collector.

Importing this package must stay cheap: no collector dependency (SQLAlchemy, FastAPI,
CEL, paramiko) may be imported from here.
"""

__version__ = "0.1.0"
