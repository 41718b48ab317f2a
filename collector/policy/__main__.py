"""`python -m collector.policy check|eval ...` - the policy CLI without the collector."""

from __future__ import annotations

import sys

from collector.policy.cli import main

if __name__ == "__main__":
    sys.exit(main())
