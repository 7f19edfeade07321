"""What the training recipes under training/ share: reading and checking their YAML configs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import EmogenError


def load_recipe_config(
    name_or_path: str, configs_dir: str | Path, keys: Mapping[str, type]
) -> dict[str, Any]:
    """Read `configs_dir/<name>.yaml` or a YAML path, and check its keys and their types.

    Args:
        name_or_path: a config name ("tiny", "base") or a path to a YAML file.
        configs_dir: the recipe's configs folder.
        keys: every key the config must have -> its type (an int is accepted for a float).

    Raises:
        EmogenError: no such config (naming the known ones), missing or unknown keys, or a value
            of the wrong type.
    """
    import yaml

    configs_dir = Path(configs_dir)
    path = Path(name_or_path)
    if not path.suffix:
        path = configs_dir / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in configs_dir.glob("*.yaml"))
        raise EmogenError(f"config {name_or_path!r} not found; give a YAML path or one of {known}")
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(config, dict):
        raise EmogenError(f"{path}: a config is a mapping of keys to values")
    missing = sorted(set(keys) - set(config))
    unknown = sorted(set(config) - set(keys))
    if missing or unknown:
        raise EmogenError(f"{path}: missing keys {missing}, unknown keys {unknown}")
    for key, kind in keys.items():
        value = config[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            config[key] = value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise EmogenError(f"{path}: {key!r} has the wrong type: {value!r}")
    return config
