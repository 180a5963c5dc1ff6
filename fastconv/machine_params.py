"""The machine parameters the C kernels run with: cache sizes, GEMM cache blocks, and the
cost model's coefficients fitted on this machine.

Each parameter set comes from one of three sources, best first:

``tuned``
    ``fastconv tune --machine`` measured it on this CPU and stored it in
    ``<cache dir>/machine.json`` (beside the plan cache) with the CPU model, the ISA and the
    fastconv version. A file written on another CPU, ISA or version, or one that cannot be
    read, is ignored with a warning: the derived values are used instead and nothing fails.
``derived``
    computed from the cache sizes the operating system reports for this CPU (Linux sysfs),
    by the rules in :func:`derive_gemm_blocking` below.
``built in``
    the C table's defaults, when the OS reports no cache sizes.

``fastconv info`` prints each set with its source. Removing the file (``fastconv tune
--machine --reset``) goes back to the derived values.

This module sits at the bottom of the layers: it reads files and does arithmetic, and the C
backend (fastconv.backends.c) pushes its values into the extension when that loads.
"""
from __future__ import annotations

import functools
import json
import math
import os
import platform
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

FILE_NAME = "machine.json"
# 2: "cost" holds each implementation's fitted coefficients (format 1 held a per-call time and
# a scale, which a file of that format can no longer be read as)
FORMAT = 2
SYSFS_CACHE = Path("/sys/devices/system/cpu/cpu0/cache")


@functools.cache
def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what the platform module knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cache_dir() -> Path:
    """Where fastconv keeps per-machine state (plan cache, tuning file):
    ``$FASTCONV_CACHE_DIR``, else ``$XDG_CACHE_HOME/fastconv``, else ``~/.cache/fastconv``."""
    env = os.environ.get("FASTCONV_CACHE_DIR", "").strip()
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".cache") / "fastconv"


def tuning_path() -> Path:
    return cache_dir() / FILE_NAME


# ---- cache sizes ----------------------------------------------------------------------------
@dataclass(frozen=True)
class CacheSizes:
    """Data cache sizes per core in bytes; ``l3`` is this core's share of the L3 (the L3 over
    the CPUs that share it), 0 when there is none. ``source``: "derived" (read from the OS) or
    "built in" (the C defaults, Zen 4's)."""
    l1d: int
    l2: int
    l3: int
    source: str


BUILT_IN_CACHES = CacheSizes(32 * 1024, 1024 * 1024, 16 * 1024 * 1024, "built in")


def _parse_size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    return int(text.rstrip("KMG")) * scale


def _shared_cpus(cpu_list: str) -> int:
    count = 0
    for part in cpu_list.strip().split(","):
        if "-" in part:
            lo, hi = part.split("-")
            count += int(hi) - int(lo) + 1
        elif part:
            count += 1
    return max(count, 1)


def read_cache_sizes(root: Path = SYSFS_CACHE) -> CacheSizes:
    """This CPU's data caches from sysfs (``cpu0/cache/index*``: level, type, size,
    shared_cpu_list); the built-in sizes where the OS does not say (not Linux, a container
    without sysfs)."""
    found: dict[int, int] = {}
    try:
        for index in sorted(root.glob("index*")):
            kind = (index / "type").read_text().strip()
            if kind not in ("Data", "Unified"):
                continue
            level = int((index / "level").read_text())
            size = _parse_size((index / "size").read_text())
            if level == 3:
                try:
                    size //= _shared_cpus((index / "shared_cpu_list").read_text())
                except OSError:
                    pass
            found[level] = size
    except (OSError, ValueError):
        found = {}
    if 1 not in found or 2 not in found or found[1] < 4096 or found[2] < found[1]:
        return BUILT_IN_CACHES
    return CacheSizes(found[1], found[2], found.get(3, 0), "derived")


# ---- GEMM cache blocks ------------------------------------------------------------------------
def _round_down(value: float, multiple: int, floor: int) -> int:
    return max(floor, int(value) // multiple * multiple)


def derive_gemm_blocking(mr: int, nr: int, itemsize: int, caches: CacheSizes) -> dict:
    """Cache blocks for an ``mr x nr`` microkernel from the cache sizes, by the BLIS
    analytical reasoning (Low et al., TOMS 2016, simplified):

    - ``kc``: one packed B micro-panel (kc x nr) fills the L1d, so it stays there while the
      row tiles of A stream past it: kc = L1d / (nr x itemsize), in multiples of 16 (at least
      64). Each tile loads and stores its C block once per kc rank-1 updates.
    - ``mc``: the packed A block (mc x kc) fills half the L2 (the B micro-panels and C tiles
      pass through the other half): mc = L2 / 2 / (kc x itemsize), a multiple of mr.
    - ``nc``: the packed B block (kc x nc, one per thread) within half this core's share of
      the L3 (or 4 x L2 without an L3), a multiple of nr, at most 8192 columns.

    32 KiB L1d, 1 MiB L2, 16 MiB L3 per core, float32: AVX-512 14 x 32 -> kc 256, mc 504,
    nc 8192; AVX2 6 x 16 -> kc 512, mc 252, nc 4096. The rule is a starting point that
    ``fastconv tune --machine`` measures around: on a Zen 4 (AVX-512) it found kc 512, mc
    252 (a B panel twice the L1: the 14 x 32 kernel streams B from L2 at 128 bytes per 28
    FMAs, which L2 sustains) 2.6% faster in geometric mean over its shapes, and the derived
    blocks 1.4-2.5% faster than the table's 168 / 192 / 4096 (bench/bench_gemm_blocks.py).
    """
    kc = _round_down(caches.l1d / (nr * itemsize), 16, 64)
    mc = _round_down(caches.l2 / 2 / (kc * itemsize), mr, mr)
    l3 = caches.l3 if caches.l3 > 0 else 4 * caches.l2
    nc = min(_round_down(l3 / 2 / (kc * itemsize), nr, nr), 8192 // nr * nr)
    return {"mr": mr, "nr": nr, "mc": mc, "kc": kc, "nc": nc}


# ---- the tuning file --------------------------------------------------------------------------
@dataclass
class Tuned:
    """What ``fastconv tune --machine`` stored: per "dtype:isa" GEMM blocks, per implementation
    the cost model's coefficients (``{feature: seconds per unit}``, fastconv.cost), and
    when."""
    gemm: dict[str, dict]
    cost: dict[str, dict]
    created: float
    path: Path

    @property
    def date(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(self.created))


def identity(isa: str) -> dict:
    """What a tuning file must match to be used here."""
    from . import __version__
    return {"cpu": cpu_model(), "isa": isa, "version": __version__}


def load_tuned(isa: str, path: Optional[Path] = None) -> Optional[Tuned]:
    """The tuning file's contents when it was written on this CPU, ISA and fastconv version;
    None (with a warning saying why) for a foreign or unreadable file, None silently for no
    file."""
    path = path or tuning_path()
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        warnings.warn(f"fastconv: cannot read the tuning file {path} ({exc}); using derived "
                      "parameters", RuntimeWarning, stacklevel=2)
        return None
    try:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
        gemm, cost, created = data["gemm"], data["cost"], float(data["created"])
        if not isinstance(gemm, dict) or not isinstance(cost, dict):
            raise ValueError("'gemm' and 'cost' must be objects")
        for key, blk in gemm.items():
            if not all(isinstance(blk.get(f), int) and blk[f] > 0
                       for f in ("mr", "nr", "mc", "kc", "nc")):
                raise ValueError(f"gemm blocks {key!r} are not positive integers")
        for name, coefficients in cost.items():
            if not isinstance(coefficients, dict) or not coefficients or not all(
                    isinstance(v, (int, float)) and math.isfinite(v) and v >= 0
                    for v in coefficients.values()):
                raise ValueError(f"cost coefficients {name!r} are not non-negative numbers")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        warnings.warn(f"fastconv: ignoring the tuning file {path}: it is not valid ({exc}); "
                      "using derived parameters (rerun `fastconv tune --machine`)",
                      RuntimeWarning, stacklevel=2)
        return None
    want = identity(isa)
    got = {k: data.get(k) for k in want}
    if got != want:
        differs = ", ".join(f"{k} {got[k]!r} (here {want[k]!r})" for k in want
                            if got[k] != want[k])
        warnings.warn(f"fastconv: ignoring the tuning file {path}: it was written for another "
                      f"machine or version: {differs}; using derived parameters (rerun "
                      "`fastconv tune --machine`)", RuntimeWarning, stacklevel=2)
        return None
    return Tuned(gemm=gemm, cost=cost, created=created, path=path)


def store_tuned(isa: str, gemm: dict, cost: dict, path: Optional[Path] = None) -> Path:
    """Write the tuning file atomically (a reader sees the old file or the new one)."""
    path = path or tuning_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT, **identity(isa), "created": time.time(), "gemm": gemm,
            "cost": cost}
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)
    return path


def remove_tuned(path: Optional[Path] = None) -> bool:
    """Delete the tuning file; True when there was one."""
    path = path or tuning_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


# ---- what this process runs with -------------------------------------------------------------
@dataclass
class Active:
    """The parameters in force, and where each set came from (for ``fastconv info``)."""
    caches: CacheSizes
    gemm: dict[str, dict]         # "float32:avx512" -> blocks
    gemm_source: dict[str, str]   # same keys -> "tuned on DATE" / "derived ..." / "built in"
    cost: dict[str, dict]         # implementation -> {feature: coefficient} (tuned only)
    cost_source: str


_active: Optional[Active] = None


def active() -> Optional[Active]:
    """The parameters the C backend applied at load (None before it loaded)."""
    return _active


def set_active(value: Optional[Active]) -> None:
    global _active
    _active = value


def tuned_cost(name: str) -> Optional[dict]:
    """The cost coefficients ``fastconv tune --machine`` fitted for implementation ``name``
    on this machine, if any."""
    return _active.cost.get(name) if _active is not None else None
