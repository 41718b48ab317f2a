"""agent.toml + environment -> settings; an invalid value stops the agent naming the key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import main
from agent.config import ConfigError, load_config

EXAMPLE = Path(__file__).parents[2] / "deploy" / "agent.toml.example"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import agent.config

    monkeypatch.setattr(agent.config, "DEFAULT_CONFIG", tmp_path / "agent.toml")
    config, used = load_config(None, {})  # the default path need not exist
    assert used is None
    assert config.full_interval == 6 * 3600 and config.status_interval == 15 * 60
    assert config.patch_interval == 6 * 3600 and config.splay == 300


def test_toml_and_environment(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    path = write(
        tmp_path,
        f'server = "https://inventar.example:8740"\nca_file = "{ca}"\nsite = "GS Nord"\n'
        'role = "classroom"\ntags = ["raum-12", "beamer"]\nskip_probes = ["software"]\n'
        'full_interval = "12h"\nstatus_interval = 600\nsplay = "2m"\n'
        'proxy = "http://proxy.example:3128"\nspool_max_bytes = "16MiB"\n',
    )
    config, used = load_config(path, {"INVENTAR_AGENT_SITE": "Rathaus",
                                      "INVENTAR_AGENT_TAGS": "a, b"})  # fmt: skip
    assert used == path
    assert config.server == "https://inventar.example:8740" and config.ca_file == ca
    assert config.site == "Rathaus"  # the environment wins
    assert config.tags == ("a", "b") and config.role == "classroom"
    assert config.skip_probes == ("software",)
    assert config.full_interval == 12 * 3600 and config.status_interval == 600
    assert config.splay == 120 and config.spool_max_bytes == 16 * 1024 * 1024


def test_the_example_is_valid_and_documents_every_key() -> None:
    from agent.config import KEYS

    config, _ = load_config(EXAMPLE, {})
    assert config.role is None or config.role in ("workplace", "classroom")
    text = EXAMPLE.read_text()
    for key in KEYS:
        assert f"{key} =" in text, f"{key} is not documented in {EXAMPLE}"


@pytest.mark.parametrize(
    ("text", "env", "named"),
    [
        ('role = "teacher"\n', {}, "key 'role'"),
        ('full_interval = "soon"\n', {}, "key 'full_interval'"),
        ('servr = "https://x"\n', {}, "key 'servr'"),
        ('skip_probes = ["host"]\n', {}, "key 'skip_probes'"),
        ('ca_file = "/nonexistent/ca.pem"\n', {}, "key 'ca_file'"),
        ("", {"INVENTAR_AGENT_SPLAY": "-5"}, "INVENTAR_AGENT_SPLAY"),
        ("", {"INVENTAR_AGENT_SERVER": "ftp://x"}, "INVENTAR_AGENT_SERVER"),
        ("splay = [\n", {}, "not valid TOML"),
    ],
)
def test_invalid_configuration_names_the_key(
    tmp_path: Path, text: str, env: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env)
    assert named in str(info.value)


def test_invalid_configuration_stops_the_agent_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, 'status_interval = "often"\n')
    rc = main(["run", "--config", str(path), "--state-dir", str(tmp_path / "state")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "status_interval" in err and "invalid configuration" in err
    assert not (tmp_path / "state").exists()


def test_an_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml", {})


# The service's between-jobs memory goal (<= 30 MiB) leaves no room for pydantic (12-17 MiB).
ROOT = Path(__file__).parents[2]
LOADED = "import json, sys; import agent.config; print(json.dumps(sorted(sys.modules)))"
# agent.schema replaced by a stub holding the two names agent.config takes from it: what
# agent.config and its other imports load, whatever agent.schema itself needs.
STUBBED_SCHEMA = """
import sys, types, typing
schema = types.ModuleType("agent.schema")
schema.SECTIONS = ("host", "os", "software")
schema.Role = typing.Literal["workplace", "classroom"]
sys.modules["agent.schema"] = schema
"""


def _modules_loaded(code: str) -> list[str]:
    # a fresh interpreter: the test process itself has pydantic loaded long since
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [m for m in json.loads(out) if m.split(".")[0] == "pydantic"]


def test_the_configuration_itself_imports_no_pydantic() -> None:
    assert _modules_loaded(STUBBED_SCHEMA + LOADED) == []


def test_importing_the_configuration_loads_no_pydantic() -> None:
    # fails while agent.schema (imported for SECTIONS and Role) is still pydantic
    assert _modules_loaded(LOADED) == []
