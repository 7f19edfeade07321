"""Every README.md example runs: python blocks in one namespace, `emogen ...` lines as commands."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
PYTHON = [code for lang, code in BLOCKS if lang == "python"]
COMMANDS = [
    line.split("  #")[0].strip()
    for lang, code in BLOCKS
    if lang in ("bash", "console", "sh")
    for line in code.splitlines()
    if line.startswith("emogen ")
]


def test_readme_has_examples():
    assert PYTHON and COMMANDS


def test_python_examples_run():
    namespace: dict = {}
    for code in PYTHON:
        exec(compile(code, str(README), "exec"), namespace)


@pytest.mark.parametrize("command", COMMANDS)
def test_command_examples_run(command):
    argv = shlex.split(command)
    result = subprocess.run(
        [sys.executable, "-m", "emogen", *argv[1:]], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
