"""The current state ingest keeps (collector.current_state): derived facts computed by the
decode workers are used only with the reference data in use, an agent's section hashes left
open by a full report are computed when a delta needs them, and a host's changed chassis
changes what its stored displays are (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from agent import delta
from agent.schema import SECTIONS, Report, convert, encode, object_data
from collector import reference_cache
from collector.ingest import store_decoded
from collector.limits import Limits
from collector.models import DisplayRow, Host, HostSection, Site, table_of
from collector.reference_cache import FactsBasis
from collector.report_decoding import decode
from collector.services import list_agents
from collector.settings import SHIPPED_POLICIES
from tests.collector.conftest import Env
from tests.collector.helpers import make_report


def normalized(report: dict[str, Any]) -> dict[str, Any]:
    """A report as the agent holds it: the schema's JSON dump."""
    return object_data(convert(report, Report))


def stored_hashes(env: Env, host_id: int) -> dict[str, str]:
    table = table_of(HostSection)
    with env.db.engine.connect() as conn:
        query = sa.select(table.c.section, table.c.agent_hash).where(table.c.host_id == host_id)
        return dict(conn.execute(query).all())


def host_row(env: Env, host_id: int) -> Any:
    table = table_of(Host)
    with env.db.engine.connect() as conn:
        return conn.execute(sa.select(table).where(table.c.id == host_id)).one()


def test_a_full_report_stores_the_agents_hashes_and_a_delta_computes_missing_ones(
    env: Env,
) -> None:
    _agent, token = env.enroll("m-lazy")
    base = normalized(make_report("m-lazy", software=30))
    r = env.post(token, base)
    assert r.status_code == 201, r.text
    host_id = r.json()["host_id"]
    # A full report stores every section with the agent's hash of it.
    stored = stored_hashes(env, host_id)
    assert {s: stored[s] for s in SECTIONS} == delta.section_hashes(base)
    # Sections stored by a collector before that one have none: the next delta computes it.
    table = table_of(HostSection)
    with env.db.engine.begin() as conn:
        conn.execute(
            sa.update(table)
            .where(table.c.host_id == host_id, table.c.section == "software")
            .values(agent_hash="")
        )

    new = normalized({**base, "report_id": str(uuid.uuid4()),
                      "hardware": {**base["hardware"], "cpu_model": "changed"}})  # fmt: skip
    body, _ = delta.wire_body(new, ["host", "hardware"], delta.Base(base["report_id"], base))
    assert "software" not in body
    r = env.post(token, body)
    assert r.status_code == 201, r.text
    # The delta's check needed the software's hash: computed from the stored section, kept.
    hashes = stored_hashes(env, host_id)
    assert hashes["software"] == delta.section_hash(base["software"])
    assert hashes["hardware"] == delta.section_hash(new["hardware"])

    # A delta whose base differs in a section it does not carry is still refused.
    other = normalized({**new, "report_id": str(uuid.uuid4()), "software": []})
    body, _ = delta.wire_body(other, ["host"], delta.Base(new["report_id"], other))
    r = env.post(token, body)
    assert r.status_code == 409 and r.json()["need_full"] is True, r.text
    assert "software" in r.json()["detail"]
    assert stored_hashes(env, host_id) == hashes


def store_with(env: Env, report: dict[str, Any], basis: FactsBasis) -> int:
    """Stores ``report`` decoded with ``basis`` (as a decode worker would have)."""
    decoded = decode(encode(convert(report, Report)), None, Limits(),
                     basis)  # fmt: skip
    with env.db.session() as s:
        site = s.execute(sa.select(Site).where(table_of(Site).c.name == "GS Nord")).scalar_one()
        assert site.id is not None
        site_id, org_id = site.id, site.org_id
    with env.db.core_write() as tx:
        return store_decoded(tx, decoded, site_id=site_id, org_id=org_id, agent_id=None).host_id


def test_facts_from_other_reference_data_are_computed_again(env: Env) -> None:
    current = reference_cache.basis()
    assert current.digest and current.reference is not None
    # A worker that still had older reference data (here: none at all) computed no category
    # and no OS support; the store does not take its facts, it computes them again.
    report = make_report("m-stale", os={"family": "linux", "name": "Debian GNU/Linux",
                                        "version": "12"})  # fmt: skip
    host_id = store_with(env, report, FactsBasis("an-older-digest", None))
    row = host_row(env, host_id)
    assert row.device_category == "desktop"
    assert row.os_support_end is not None and row.os_support_release

    # With the digest in use, the worker's facts are what is stored (here: none).
    report = make_report("m-same", os={"family": "linux", "name": "Debian GNU/Linux",
                                       "version": "12"})  # fmt: skip
    host_id = store_with(env, report, FactsBasis(current.digest, None))
    row = host_row(env, host_id)
    assert row.device_category is None and row.os_support_end is None


def displays(env: Env, host_id: int) -> list[tuple[Any, ...]]:
    table = table_of(DisplayRow)
    with env.db.engine.connect() as conn:
        query = sa.select(table.c.connector, table.c.external).where(table.c.host_id == host_id)
        return [tuple(r) for r in conn.execute(query.order_by(table.c.connector))]


def test_a_changed_chassis_changes_what_the_displays_are(env: Env) -> None:
    _agent, token = env.enroll("m-chassis")
    screens = [{"connector": "card0-eDP-1", "internal": None, "year": 2020},
               {"connector": "card0-HDMI-A-1", "internal": True, "year": 2020}]  # fmt: skip
    laptop = make_report("m-chassis", displays=screens)
    laptop["host"]["chassis"] = "laptop"
    r = env.post(token, laptop)
    assert r.status_code == 201, r.text
    host_id = r.json()["host_id"]
    # On a notebook a display of unknown kind may be its own panel: unknown.
    assert displays(env, host_id) == [("card0-HDMI-A-1", False), ("card0-eDP-1", None)]

    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    desktop = make_report("m-chassis", displays=screens, collected_at=later)
    r = env.post(token, desktop)
    assert r.status_code == 201, r.text
    assert "displays" not in r.json()["changed_sections"]
    # A desktop has no panel of its own: the same display is an external monitor now.
    assert displays(env, host_id) == [("card0-HDMI-A-1", False), ("card0-eDP-1", True)]
    assert host_row(env, host_id).device_category == "desktop"


@pytest.fixture
def reference_state() -> Any:
    """reference_cache's process-wide state, restored after the test."""
    saved = (reference_cache._current, reference_cache._asked_for)
    yield
    reference_cache._current, reference_cache._asked_for = saved


@pytest.mark.usefixtures("reference_state")
def test_a_worker_loads_the_reference_data_again_when_the_server_did(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(SHIPPED_POLICIES, policies)
    first = reference_cache.current(policies)[0]
    assert reference_cache.basis_for(first).digest == first

    lifecycle = policies / "data" / "lifecycle.yaml"
    lifecycle.write_text(lifecycle.read_text() + "\n# changed\n")
    second = reference_cache.reference_digest(policies)
    assert second != first
    # The serving process reloaded (its digest is the new one): the worker follows once.
    assert reference_cache.basis_for(second).digest == second
    # The same digest asked for again: no reload, though the files changed meanwhile.
    lifecycle.write_text(lifecycle.read_text() + "\n# again\n")
    assert reference_cache.basis_for(second).digest == second
    # A digest the directory does not have costs one reload, not one per report: the
    # store then computes the facts itself (test above).
    third = reference_cache.reference_digest(policies)
    assert reference_cache.basis_for("not-in-the-directory").digest == third
    lifecycle.write_text(lifecycle.read_text() + "\n# once more\n")
    assert reference_cache.basis_for("not-in-the-directory").digest == third


def test_an_agents_last_contact_is_when_its_host_last_reported(env: Env) -> None:
    reporting, token = env.enroll("m-contact")
    silent, _ = env.enroll("m-silent")
    r = env.post(token, make_report("m-contact"))
    assert r.status_code == 201, r.text
    seen = host_row(env, r.json()["host_id"]).last_seen
    with env.db.session() as s:
        contacts = {agent.id: last for agent, _site, last in list_agents(s)}
    assert contacts[reporting] == seen and seen is not None
    assert contacts[silent] is None
