"""The `emogen` command-line contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from emogen.cli import main

EMOGEN = Path(sys.executable).parent / "emogen"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(EMOGEN), *args], capture_output=True, text=True, timeout=300)


def test_entry_point_help_lists_sub_commands():
    result = run("--help")
    assert result.returncode == 0
    for command in ("emotion", "recognize", "curve"):
        assert command in result.stdout


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("happy", "happy"),
        ("angry:0.8", "angry"),
        ("mad", "angry"),
        ("slightly annoyed", "annoyed"),
        ("very calm", "calm"),
        ("0.6 happy + 0.4 surprised", "happy"),
        ("neutral", "neutral"),
    ],
)
def test_emotion_json(capsys, text, category):
    assert main(["emotion", text, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"category", "valence", "arousal", "dominance", "intensity", "probabilities"} <= set(
        data
    )
    assert data["category"] == category
    assert abs(sum(data["probabilities"].values()) - 1) < 1e-3
    assert all(-1 <= data[k] <= 1 for k in ("valence", "arousal", "dominance"))


def test_emotion_json_for_raw_vad_names_the_nearest_category(capsys):
    assert main(["emotion", "v=-0.7 a=0.3 d=-0.2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["category"] == max(data["probabilities"], key=data["probabilities"].get)
    assert data["valence"] == -0.7 and data["mixture"] == {}


def test_intensity_override(capsys):
    assert main(["emotion", "happy", "--intensity", "0.5", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["intensity"] == 0.5 and data["target"]["valence"] == 2 * data["valence"]


def test_unknown_emotion_exits_non_zero_with_hints():
    result = run("emotion", "hapy", "--json")
    assert result.returncode != 0
    assert "Did you mean 'happy'" in result.stderr and "Accepted forms" in result.stderr
    assert result.stdout == ""
    result = run("emotion", "angry:7")
    assert result.returncode != 0 and "intensity must be in [0.0, 1.0]" in result.stderr


def test_human_readable_output(capsys):
    assert main(["emotion", "angry:0.8"]) == 0
    out = capsys.readouterr().out
    assert "angry:0.8" in out and "valence -0." in out


def test_curve_command(capsys):
    assert main(["curve", "happy@0 -> sad@1", "--fps", "4"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and lines[0].split()[1] == "happy"
    assert main(["curve", "happy@0 -> sad@1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["unit"] == "seconds"
    assert main(["curve", "happy@1 -> sad@0"]) == 2
    assert "strictly increasing" in capsys.readouterr().err


def test_voices_lists_the_bundled_voice(capsys):
    assert main(["voices", "--json"]) == 0
    voices = json.loads(capsys.readouterr().out)
    joe = next(v for v in voices if v["name"] == "joe-us")
    assert joe["sample_rate"] == 22050 and Path(joe["path"]).is_file()
    assert main(["voices"]) == 0
    assert "joe-us" in capsys.readouterr().out


def test_demo_command_serves_the_app_with_its_options(monkeypatch):
    import emogen.demo

    served = {}
    monkeypatch.setattr(emogen.demo, "launch", lambda **kwargs: served.update(kwargs))
    assert main(["demo", "--host", "0.0.0.0", "--port", "8080", "--concurrency", "1"]) == 0
    assert served["host"] == "0.0.0.0" and served["port"] == 8080
    assert served["limits"].concurrency_limit == 1
    assert main(["demo", "--concurrency", "0"]) == 2  # DemoLimits refuses it, clearly
