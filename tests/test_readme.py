"""Every README.md example runs: python blocks in one namespace, `emogen ...` lines through the
command line's `main` in this process (a fresh interpreter per line would cost ~7 s each;
tests/test_speech_cli.py runs the installed `emogen` script itself)."""

from __future__ import annotations

import re
import shlex
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
def test_command_examples_run(command, capsys):
    from emogen.cli import main

    try:
        code = main(shlex.split(command)[1:])
    except SystemExit as exit_:  # --help exits through argparse
        code = exit_.code
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.strip()
