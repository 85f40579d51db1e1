"""Where a store comes from: a preset name or a store directory (store.json + catalog/)."""
from __future__ import annotations

import tempfile
from pathlib import Path

from data.errors import ScenarioError
from data.store import Catalog, Store, read_store_dir


def is_store_dir(name: str) -> bool:
    return name.startswith(("./", "../", "/"))


def load_store(name: str) -> tuple[Store, Catalog]:
    """The store and catalog of a preset or directory."""
    return read_store_dir(store_dir(name))


def store_dir(name: str) -> Path:
    """The directory holding store.json and catalog/ for a preset or directory name.

    Presets are written once per machine to a cache keyed by the generator's code, so a changed
    generator never serves a stale store.
    """
    from data.presets import PRESETS, write_preset

    if is_store_dir(name):
        d = Path(name)
        if not (d / "store.json").is_file():
            raise ScenarioError(f"store: {d} has no store.json")
        return d
    if name not in PRESETS:
        raise ScenarioError(f"store: unknown preset {name!r}; presets are {', '.join(PRESETS)}, "
                            f"or give a directory starting with ./, ../ or /")
    import hashlib

    import data.catalog_images
    import data.presets

    code = b"".join(Path(m.__file__).read_bytes() for m in (data.presets, data.catalog_images))
    cache = Path(tempfile.gettempdir()) / "walkout-presets" / f"{name}-{hashlib.sha1(code).hexdigest()[:10]}"
    if not (cache / "store.json").is_file():
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=cache.parent))
        write_preset(name, tmp)
        try:
            tmp.rename(cache)
        except OSError:  # another process got there first: theirs is identical
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)
    return cache
