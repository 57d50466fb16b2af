"""The dependency lock decides what is installed (issue 15, docs/libraries.md).

`requirements.lock` is compiled from pyproject.toml (every extra) and infra/requirements-build.in by
`make lock`; the Makefile installs it with `--require-hashes --no-deps`. These tests fail when the two
disagree, so a dependency added to pyproject.toml without `make lock` cannot slip in unpinned.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)==(?P<version>[^ ;\\]+)(?:\s*;\s*(?P<marker>[^\\]+?))?\s*\\?$")


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = list(project["dependencies"])
    for extra in ("cloud", "agent", "dev"):
        lines += project["optional-dependencies"][extra]
    build = (ROOT / "infra" / "requirements-build.in").read_text(encoding="utf-8").splitlines()
    lines += [line for line in build if line.strip() and not line.startswith("#")]
    return [Requirement(line) for line in lines]


def _locked(path: Path = ROOT / "requirements.lock") -> dict[str, list[tuple[Version, str | None]]]:
    """Name → [(version, marker)] for every pin of a lock (a universal lock may pin per Python version)."""
    pins: dict[str, list[tuple[Version, str | None]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line)
        if match:
            name = canonicalize_name(match["name"])
            pins.setdefault(name, []).append((Version(match["version"]), match["marker"]))
    return pins


def _applies(marker: str | None) -> bool:
    if marker is None:
        return True
    return Requirement(f"x; {marker}").marker.evaluate(default_environment())


def test_every_declared_dependency_is_pinned_within_its_range() -> None:
    locked = _locked()
    problems = []
    for req in _declared():
        name = canonicalize_name(req.name)
        if name not in locked:
            problems.append(f"{req} is declared in pyproject.toml but missing from requirements.lock")
            continue
        for version, _ in locked[name]:
            if version not in req.specifier:
                problems.append(f"{req} does not admit the locked {name}=={version}")
    assert not problems, "run `make lock`:\n" + "\n".join(problems)


def test_every_pin_carries_hashes() -> None:
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    pinned = [block for block in blocks if _PIN.match(block.splitlines()[0])]
    assert pinned
    assert all("--hash=sha256:" in block for block in pinned)


def test_installed_versions_are_the_locked_ones() -> None:
    """What this environment runs is what the lock says (pip never picked another version)."""
    mismatched = []
    for name, pins in _locked().items():
        wanted = [version for version, marker in pins if _applies(marker)]
        if not wanted:
            continue
        try:
            installed = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            mismatched.append(f"{name}: not installed (locked {wanted[0]})")
            continue
        if installed not in wanted:
            mismatched.append(f"{name}: installed {installed}, locked {wanted[0]}")
    assert not mismatched, "reinstall from the lock (`make install`):\n" + "\n".join(mismatched)


@pytest.mark.parametrize(
    ("path", "present", "absent"),
    [
        ("infra/container/requirements-cloud.lock", "litestar", "opencv-python"),  # the cloud image
        ("infra/agent_pkg/requirements-agent.lock", "opencv-python", "litestar"),  # the agent's offline bundle
    ],
)
def test_the_partial_locks_pin_the_same_versions_as_the_lock(path: str, present: str, absent: str) -> None:
    """The cloud image's and the agent bundle's locks are compiled with requirements.lock as constraint."""
    main = _locked()
    partial = _locked(ROOT / path)
    assert present in partial
    assert absent not in partial
    differing = [
        f"{name}: {pins} vs {main.get(name)}" for name, pins in partial.items() if set(pins) - set(main.get(name, []))
    ]
    assert not differing, "run `make lock`:\n" + "\n".join(differing)


def test_the_cloud_image_installs_the_lock_and_runs_unprivileged() -> None:
    dockerfile = (ROOT / "infra" / "container" / "Dockerfile").read_text(encoding="utf-8")
    assert "--require-hashes --no-deps -r /tmp/requirements-cloud.lock" in dockerfile
    assert re.search(r"^USER ecogate", dockerfile, re.MULTILINE)
    assert re.search(r"^HEALTHCHECK .*\n.*/health", dockerfile, re.MULTILINE)
    assert "pip install --no-deps --no-build-isolation ." in dockerfile
