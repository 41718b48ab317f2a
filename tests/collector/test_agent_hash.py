"""The collector's quick agent hash (collector.agent_hash) gives the agent's bytes exactly:
a difference would answer every delta of a host with 409 need_full."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.delta import section_hash
from agent.schema import SECTIONS, Report, Software, convert, encode, to_data
from collector.agent_hash import FLOAT_FREE, agent_hash, model_hash
from tests.agent.test_windows_bundles import replay, replay_dir
from tests.windows_bundles import assemble

# What JSON data holds, floats aside: any text (control characters, umlauts, emoji, quotes
# and backslashes), integers up to 64 bits and beyond, nesting.
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.text()
    | st.sampled_from(["\x00", "\x1f\x7f", "\u2028\u2029", 'a"b\\c', "Grüße", "\U0001f600"])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(), inner, max_size=6),
    max_leaves=40,
)


def test_the_sections_whose_schema_holds_floats_are_not_float_free() -> None:
    # hardware (battery Wh), displays (inches, Hz) and wlan (Mbit/s) carry floats.
    assert {"software", "patches", "security", "os", "host"} <= FLOAT_FREE
    assert not {"hardware", "displays", "wlan"} & FLOAT_FREE


@settings(max_examples=400, deadline=None)
@given(value=VALUES, section=st.sampled_from(sorted(FLOAT_FREE)))
def test_any_float_free_value_hashes_as_the_agent_hashes_it(section: str, value: Any) -> None:
    assert agent_hash(section, value) == section_hash(value)


@pytest.mark.parametrize("bundle", ["windows-10-de-laptop", "darwin-macbook-pro-m2"])
def test_real_reports_hash_as_the_agent_hashes_them(bundle: str, tmp_path: Path) -> None:
    report = replay_dir(assemble(bundle, tmp_path)) if bundle.startswith("win") else replay(bundle)
    assert report["software"]  # the comparison covers real package lists
    for section in SECTIONS:
        assert agent_hash(section, report[section]) == section_hash(report[section]), section


PACKAGES = st.lists(
    st.fixed_dictionaries(
        {"name": st.text(min_size=1, max_size=40), "version": st.text(max_size=20)},
        optional={
            "publisher": st.text(max_size=20),
            "source": st.none() | st.text(max_size=9),
            "install_date": st.dates().map(str),
        },
    ),
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(packages=PACKAGES)
def test_a_decoded_sections_hash_is_the_agents(packages: list[dict[str, Any]]) -> None:
    """From the models as decoded (msgspec, sorted keys), as from the JSON data."""
    model = convert(packages, list[Software])
    data = to_data(model)
    assert model_hash("software", model, encode(model)) == section_hash(data)


@pytest.mark.parametrize("bundle", ["windows-11-en-laptop", "darwin-macbook-pro-m2"])
def test_real_decoded_sections_hash_as_the_agent_hashes_them(bundle: str, tmp_path: Path) -> None:
    data = replay_dir(assemble(bundle, tmp_path)) if bundle.startswith("win") else replay(bundle)
    report = convert(data, Report)
    for section in SECTIONS:  # the float sections (displays, hardware) included
        model = getattr(report, section)
        assert model_hash(section, model, encode(model)) == section_hash(to_data(model)), section
