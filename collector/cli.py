"""inventar-collector: the collector's command line (built out by the collector issue)."""

import sys


def main(argv: list[str] | None = None) -> int:
    print("inventar-collector: not implemented yet", file=sys.stderr)
    return 2
