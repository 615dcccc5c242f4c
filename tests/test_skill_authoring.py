"""Authoring: `dialog skill new` scaffolds a package that passes its own test, installs with pip and is
discovered through its entry point; `dialog skill test` runs scripted conversations."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import BIN, run_dialog


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    return {"DIALOG_HOME": str(home)}


def test_a_scaffolded_skill_passes_its_test_installs_and_is_discovered(
    tmp_path: Path, env: dict[str, str]
) -> None:
    name = f"scaffold_{uuid.uuid4().hex[:8]}"
    created = run_dialog("skill", "new", name, "--dir", str(tmp_path), env=env)
    assert created.returncode == 0, created.stderr
    package = tmp_path / name.replace("_", "-")
    dist = f"dialog-skill-{name.replace('_', '-')}"
    assert {p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file()} == {
        "pyproject.toml", "README.md", "conversations.yaml", f"dialog_skill_{name}/__init__.py",
        f"dialog_skill_{name}/skill.py", f"tests/test_{name}.py",
    }  # fmt: skip

    own_test = subprocess.run(
        [str(BIN / "pytest"), "-q", "-p", "no:cacheprovider", "tests"],
        cwd=package, env={**os.environ, "PYTHONPATH": str(package)},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert own_test.returncode == 0, own_test.stdout + own_test.stderr
    assert "1 passed" in own_test.stdout

    install = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        str(package),
    ]
    subprocess.run(install, check=True, capture_output=True, timeout=300)
    try:
        listed = run_dialog("skills", "list", env={**env, "COLUMNS": "250"})
        assert listed.returncode == 0, listed.stderr
        [row] = [line for line in listed.stdout.splitlines() if f"│ {name} " in line]
        assert f"entry point dialog-skill-{name.replace('_', '-')}" in row and "enabled" in row
        tested = run_dialog("skill", "test", str(package), env=env, timeout=300)
        assert tested.returncode == 0, tested.stdout + tested.stderr
        assert "3 passed, 0 failed" in tested.stdout
    finally:
        subprocess.run(
            [sys.executable, "-m", "pip", "uninstall", "--quiet", "--yes", dist],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    listed = run_dialog("skills", "list", env={**env, "COLUMNS": "250"})
    assert name not in listed.stdout


def test_skill_test_reports_failing_steps(tmp_path: Path, env: dict[str, str]) -> None:
    script = tmp_path / "conversations.yaml"
    script.write_text(
        "skills: [calculator]\n"
        "conversations:\n"
        "  - name: sums\n"
        "    steps:\n"
        "      - {user: 'what is 2 + 2', route: 'skill:calculator', reply: '= 4$'}\n"
        "  - name: wrong on purpose\n"
        "    steps:\n"
        "      - {user: 'what is 2 + 2', reply: '= 5$'}\n",
        encoding="utf-8",
    )
    result = run_dialog("skill", "test", str(script), env=env, timeout=300)
    assert result.returncode == 1
    assert "PASS sums" in result.stdout and "FAIL wrong on purpose" in result.stdout
    assert "reply does not match '= 5$'" in result.stdout and "1 passed, 1 failed" in result.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("conversations: [\n", "is not valid YAML at line"),
        ("conversations: []\n", "conversations: List should have at least 1 item"),
        ("- name: x\n  steps: [{user: hi, reply: '('}]\n", "is not a regular expression"),
    ],
)
def test_skill_test_refuses_a_bad_file_in_one_sentence(
    tmp_path: Path, env: dict[str, str], content: str, message: str
) -> None:
    script = tmp_path / "bad.yaml"
    script.write_text(content, encoding="utf-8")
    result = run_dialog("skill", "test", str(script), env=env)
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_skill_new_refuses_bad_names_and_existing_folders(tmp_path: Path, env: dict[str, str]) -> None:
    bad = run_dialog("skill", "new", "Bad-Name", "--dir", str(tmp_path), env=env)
    assert bad.returncode == 2 and "'Bad-Name' is not a skill name" in bad.stderr
    assert run_dialog("skill", "new", "twice", "--dir", str(tmp_path), env=env).returncode == 0
    again = run_dialog("skill", "new", "twice", "--dir", str(tmp_path), env=env)
    assert again.returncode == 2 and "already exists" in again.stderr
    missing = run_dialog("skill", "test", str(tmp_path / "nowhere"), env=env)
    assert (
        missing.returncode == 2
        and "neither a skill package folder nor a conversations file" in missing.stderr
    )
