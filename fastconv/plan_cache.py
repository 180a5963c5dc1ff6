"""The persistent plan cache: measured choices remembered across processes, in SQLite.

Like FFTW's wisdom or cuDNN's find results, a measured choice is only valid on the machine and
software that measured it, so the key holds everything that changes the answer: the problem id
(sizes, stride, padding, dilation, groups, dtype, layout, flip), the request (algos, backend),
the thread count, the CPU model, the active ISA and the fastconv version. A change of any of
them is a miss, never a stale hit.

Location: ``$FASTCONV_CACHE_DIR/plans.sqlite``, else the user cache directory
(``$XDG_CACHE_HOME/fastconv``, default ``~/.cache/fastconv``).

Robustness, because a cache must never break a convolution:
- several processes may tune at once: the database runs in WAL mode with a busy timeout, and
  every write is one short ``INSERT OR REPLACE`` transaction;
- a file SQLite cannot read (corrupt, truncated, not a database) is renamed aside to
  ``plans.sqlite.corrupt-<time>`` with a warning and rebuilt empty;
- a directory that cannot be written (read-only home, permissions) costs a warning and the
  cache is skipped for this process: lookups miss, stores are dropped.
Lookups never create the file; only ``store`` does.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
import warnings
from pathlib import Path
from typing import NamedTuple, Optional

from .machine_params import cache_dir, cpu_model

FILE_NAME = "plans.sqlite"
BUSY_TIMEOUT_S = 30.0
SCHEMA = """CREATE TABLE IF NOT EXISTS plans (
    key TEXT PRIMARY KEY,
    impl TEXT NOT NULL,
    seconds REAL NOT NULL,
    timings TEXT NOT NULL,
    created REAL NOT NULL
)"""

_disabled: set[str] = set()  # cache files this process gave up on (warned once)


class Entry(NamedTuple):
    impl: str                   # "algo:backend" chosen
    seconds: float              # its measured time
    timings: dict[str, float]   # every candidate measured, seconds


def cache_path() -> Path:
    return cache_dir() / FILE_NAME


def _active_isa() -> str:
    from .backends import c as c_backend
    return c_backend.active_isa() if c_backend.unavailable_reason() is None else "none"


def make_key(problem, algos: Optional[tuple[str, ...]], backend: Optional[str],
             threads: int, prepared: bool = False) -> str:
    """The cache key: one readable string (``fastconv explain`` users can grep the file).
    ``prepared``: the choice for a plan made with its weights (timed with them prepared once,
    which can rank implementations otherwise than calls that bring their weights)."""
    from . import __version__
    request = f"{'/'.join(algos) if algos else 'auto'}@{backend or 'auto'}"
    if prepared:
        request += "+weights"
    return "|".join((problem.id, problem.dtype, problem.layout, request, f"t{threads}",
                     cpu_model(), _active_isa(), __version__))


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        # WAL lets readers go on while one process writes; the mode is stored in the file, so
        # setting it again is free once done.
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(SCHEMA)
    except BaseException:
        conn.close()
        raise
    return conn


def _set_aside(path: Path, exc: Exception) -> None:
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
    for suffix in ("", "-wal", "-shm"):
        part = Path(str(path) + suffix)
        if part.exists():
            try:
                os.replace(part, Path(str(aside) + suffix))
            except FileNotFoundError:
                pass  # another process set it aside first
    warnings.warn(f"fastconv: the plan cache {path} could not be read ({exc}); set it aside as "
                  f"{aside.name} and starting a new one", RuntimeWarning, stacklevel=3)


def _give_up(path: Path, exc: Exception) -> None:
    if str(path) not in _disabled:
        _disabled.add(str(path))
        warnings.warn(f"fastconv: the plan cache {path} cannot be used ({exc}); measured plans "
                      "are not remembered in this process", RuntimeWarning, stacklevel=3)


def _run(path: Path, operation):
    """``operation(conn)`` on the database at ``path``; a file that is not a readable database
    is set aside and rebuilt once; any other failure disables the cache for this process.
    Returns the operation's result, or None when the cache could not be used."""
    if str(path) in _disabled:
        return None
    for attempt in (0, 1):
        try:
            conn = _connect(path)
            try:
                return operation(conn)
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            # "file is not a database", "database disk image is malformed", ...; but a lock
            # held past the busy timeout or a read-only file is not corruption
            message = str(exc).lower()
            if attempt or "locked" in message or "readonly" in message \
                    or "unable to open" in message or not path.exists():
                _give_up(path, exc)
                return None
            try:
                _set_aside(path, exc)
            except OSError as err:
                _give_up(path, err)
                return None
        except OSError as exc:
            _give_up(path, exc)
            return None
    return None


def lookup(key: str) -> Optional[Entry]:
    """The stored entry for ``key``, or None (no file, no entry, or an unusable cache)."""
    path = cache_path()
    if not path.exists():
        return None

    def read(conn):
        row = conn.execute("SELECT impl, seconds, timings FROM plans WHERE key = ?",
                           (key,)).fetchone()
        return None if row is None else Entry(row[0], row[1], json.loads(row[2]))
    return _run(path, read)


def store(key: str, entry: Entry) -> bool:
    """Remember ``entry`` under ``key`` (one short transaction); False if the cache is
    unusable (warned once)."""
    path = cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _give_up(path, exc)
        return False

    def write(conn):
        conn.execute("INSERT OR REPLACE INTO plans (key, impl, seconds, timings, created) "
                     "VALUES (?, ?, ?, ?, ?)",
                     (key, entry.impl, float(entry.seconds), json.dumps(entry.timings),
                      time.time()))
        return True
    return bool(_run(path, write))


def entries() -> dict[str, Entry]:
    """Every stored entry by key (tests, inspection)."""
    path = cache_path()
    if not path.exists():
        return {}

    def read_all(conn):
        return {k: Entry(i, s, json.loads(t)) for k, i, s, t in
                conn.execute("SELECT key, impl, seconds, timings FROM plans")}
    return _run(path, read_all) or {}
