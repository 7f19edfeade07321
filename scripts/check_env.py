"""Refuse an environment that DESIGN.md's install traps would break.

torchaudio/torchvision from PyPI are CUDA builds that fail against the CPU torch (and torchaudio
breaks `import diffusers`); the `encodec` package pulls torchaudio. torch must stay 2.13.0.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import re
import sys
from pathlib import Path

FORBIDDEN = ("torchaudio", "torchvision", "encodec")
TORCH_VERSION = "2.13.0"


def check_constraints(path: Path) -> list[str]:
    problems = []
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line.strip())
        if match:
            pins[match.group(1).lower()] = match.group(2)
    for name in FORBIDDEN:
        if name in pins:
            problems.append(f"{path} pins {name}, which must never be installed")
    if not pins.get("torch", "").startswith(TORCH_VERSION):
        problems.append(f"{path} must pin torch=={TORCH_VERSION} (found {pins.get('torch')})")
    return problems


def check_installed() -> list[str]:
    problems = []
    for name in FORBIDDEN:
        try:
            version = md.version(name)
        except md.PackageNotFoundError:
            continue
        problems.append(f"{name}=={version} is installed; uninstall it (see DESIGN.md)")
    try:
        torch_version = md.version("torch")
    except md.PackageNotFoundError:
        return [*problems, "torch is not installed"]
    if not torch_version.startswith(TORCH_VERSION):
        problems.append(f"torch {torch_version} is installed; emogen needs {TORCH_VERSION}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--constraints-only", action="store_true")
    args = parser.parse_args()
    problems = check_constraints(Path(__file__).resolve().parents[1] / "constraints.txt")
    if not args.constraints_only:
        problems += check_installed()
    for problem in problems:
        print(f"check_env: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
