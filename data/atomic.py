"""Write a directory all at once: into a temporary sibling, renamed into place only on success."""
from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from data.errors import InputError


def refuse_non_empty(out: Path, overwrite: bool) -> None:
    """An existing non-empty OUT is kept unless the user said --overwrite. OUT may not be a symbolic link: the
    finished directory replaces OUT itself (atomic_dir), which for a link would be neither the link nor where it
    points; said before the work, not after it."""
    out = Path(out)
    if out.is_symlink():
        raise InputError(f"{out}: is a symbolic link (to {out.readlink()}); give the directory itself or a new path")
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise InputError(f"{out}: exists and is not empty (use --overwrite to replace it)")


@contextmanager
def atomic_dir(out: Path) -> Iterator[Path]:
    """Yield a temporary directory beside `out`; on success it replaces `out`, on any failure it is removed,
    so a crash or Ctrl-C never leaves a half-written directory behind (nor destroys the old one)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
