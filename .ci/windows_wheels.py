"""Checks that the agent installs on 64-bit Windows with Python 3.12 from wheels alone.

``pip download --platform win_amd64`` evaluates environment markers for the machine it runs
on, not for the target: on Linux it would skip ``comtypes; sys_platform == "win32"`` (and
any dependency's Windows-only requirement) and pass without them. So this walks the
dependency tree itself: every requirement whose marker holds on Windows is downloaded as a
win_amd64/cp312 wheel with ``pip download --no-deps --only-binary=:all:``, and the wheel's
own Requires-Dist are followed. A requirement without such a wheel fails the run.

Usage: python .ci/windows_wheels.py [DEST]   (needs pip and packaging; exit 1 on a miss)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import tomllib
import zipfile
from email.parser import HeaderParser
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PLATFORM = ["--platform", "win_amd64", "--python-version", "3.12", "--implementation", "cp"]


def windows_environment() -> dict[str, str]:
    env = dict(default_environment())
    env.update(
        sys_platform="win32",
        platform_system="Windows",
        os_name="nt",
        platform_machine="AMD64",
        python_version="3.12",
        python_full_version="3.12.0",
        implementation_name="cpython",
        platform_python_implementation="CPython",
    )
    return env


def applies(requirement: Requirement, env: dict[str, str]) -> bool:
    return requirement.marker is None or requirement.marker.evaluate({**env, "extra": ""})


def agent_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(r) for r in project["dependencies"]]


def wheel_metadata(wheel: Path) -> tuple[str, Version, list[Requirement]]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        meta = HeaderParser().parsestr(archive.read(name).decode("utf-8"))
    return (
        meta["Name"],
        Version(meta["Version"]),
        [Requirement(r) for r in meta.get_all("Requires-Dist") or []],
    )


def download(requirement: Requirement, dest: Path) -> Path | None:
    spec = f"{requirement.name}{requirement.specifier}"
    before = set(dest.glob("*.whl"))
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
         "--only-binary=:all:", *PLATFORM, "--dest", str(dest), spec],
        check=False, capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode != 0:
        print(*(result.stderr.strip().splitlines()[-1:] or ["pip failed"]), file=sys.stderr)
        return None
    new = set(dest.glob("*.whl")) - before
    key = canonicalize_name(requirement.name)
    found = [w for w in new | before if canonicalize_name(w.name.split("-")[0]) == key]
    return sorted(found)[-1] if found else None


def check(dest: Path) -> list[str]:
    env = windows_environment()
    queue = [r for r in agent_requirements() if applies(r, env)]
    have: dict[str, Version] = {}
    missing: list[str] = []
    while queue:
        requirement = queue.pop(0)
        key = canonicalize_name(requirement.name)
        if key in have:
            if not requirement.specifier.contains(have[key], prereleases=True):
                missing.append(f"{requirement}: conflicts with {key} {have[key]}")
            continue
        wheel = download(requirement, dest)
        if wheel is None:
            missing.append(f"{requirement}: no win_amd64 / cp312 wheel")
            continue
        name, version, requires = wheel_metadata(wheel)
        have[key] = version
        print(f"{name} {version}: {wheel.name}")
        queue += [r for r in requires if applies(r, env)]
    return missing


def main() -> int:
    dest = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="win-"))
    dest.mkdir(parents=True, exist_ok=True)
    missing = check(dest)
    for line in missing:
        print(f"MISSING {line}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
