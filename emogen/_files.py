"""File helpers: atomic writes (a failure never leaves a partial file behind), and files inside
installed packages (model files shipped in wheels)."""

from __future__ import annotations

import importlib.util
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A hidden temporary file beside `path`, renamed over `path` when the block succeeds.

    The temporary file is created first (with the mode a new file would get, 0o666 minus the
    umask), the block writes to it by name, and it is synced and renamed (`os.replace`, atomic on
    one file system), so readers never see a partial file; if the block raises, it is removed.

    Example:
        >>> with atomic_path("out/manifest.jsonl") as temporary:
        ...     temporary.write_text(text, encoding="utf-8")
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield temporary
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def package_file(package: str, *parts: str) -> Path | None:
    """`parts` inside an installed package's folder, found without importing the package (some
    wheels that carry model files import heavy frameworks); None when the package or the file is
    missing. With no `parts`, the package's folder."""
    spec = importlib.util.find_spec(package)
    for location in list(spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(location).joinpath(*parts)
        if path.exists():
            return path
    return None
