"""inventar-agent's service commands: enroll, run (added by the collector issue)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds the service subcommands to the agent's parser."""
