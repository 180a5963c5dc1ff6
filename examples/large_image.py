"""Filter an image larger than memory: fastconv.dask on a 20000 x 20000 x 8-band scene.

1. A synthetic 8-band image (float32, band-sequential: shape (1, 8, H, W), 12.8 GB at the
   default size) is written to a .npy file chunk by chunk, never whole in memory.
2. ``fastconv.dask.conv2d`` filters it with a 15x15 kernel from 8 to 4 bands ("same" padding),
   reading the file chunk by chunk, and the result is written to a second .npy file as each
   chunk is done, under dask's progress bar.
3. It prints the time, GFLOP/s and the peak resident memory (ru_maxrss of this process, plus
   that of every worker process with ``--scheduler distributed``).

Files are read and written through a short-lived memory map per chunk (``NpyFile``): one map
of the whole file would count every page it ever touched in the process's resident memory.

    python examples/large_image.py                       # the full 20000 x 20000 run
    python examples/large_image.py --size 600 --check    # small, checked against conv2d
    python examples/large_image.py --scheduler distributed --workers 2

Needs the [dask] extra (and ``distributed`` for ``--scheduler distributed``).
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time

import dask
import dask.array as da
import numpy as np
from dask.diagnostics import ProgressBar

import fastconv
import fastconv.dask


class NpyFile:
    """A .npy file that dask reads and writes chunk by chunk (``da.from_array`` source and
    ``da.store`` target): each access maps the file, copies one region and unmaps it, so the
    process holds no file pages between chunks (``ru_maxrss`` would count each mapped page)."""

    def __init__(self, path, shape=None, dtype=np.float32):
        self.path = path
        if shape is not None:  # create the file (sparse on disk until written)
            np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)._mmap.close()
        header = np.load(path, mmap_mode="r")
        self.shape, self.dtype, self.ndim = header.shape, header.dtype, header.ndim
        header._mmap.close()

    def __getitem__(self, index):
        mm = np.load(self.path, mmap_mode="r")
        try:
            return np.array(mm[index])
        finally:
            mm._mmap.close()

    def __setitem__(self, index, value):
        mm = np.load(self.path, mmap_mode="r+")
        try:
            mm[index] = value  # no flush: the kernel writes the pages back after the unmap
        finally:
            mm._mmap.close()


def synthetic_block(block_info=None):
    """One chunk of the synthetic scene: per-band plane waves (separable, so cheap) plus
    uniform noise seeded by the chunk's position, so every chunk is reproducible."""
    (_, _), (b0, b1), (y0, y1), (x0, x1) = block_info[None]["array-location"]
    rng = np.random.default_rng([y0, x0, b0])
    block = rng.random((1, b1 - b0, y1 - y0, x1 - x0), dtype=np.float32)
    block *= 0.2
    for i, band in enumerate(range(b0, b1)):
        rows = np.cos(np.arange(y0, y1) * (0.007 * (band + 2)))[:, None]
        cols = np.sin(np.arange(x0, x1) * (0.01 * (band + 1)))[None, :]
        block[0, i] += (rows + cols).astype(np.float32)
    return block


def peak_rss_bytes(client=None) -> int:
    """ru_maxrss of this process (Linux reports KiB), plus each worker's with a client."""
    total = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if client is not None:
        def worker_peak():
            import resource
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        total += sum(client.run(worker_peak).values())
    return total


def run(args, client=None) -> None:
    shape = (1, args.bands, args.size, args.size)
    chunks = (1, args.bands, args.chunk_rows, args.chunk_cols)
    workdir = args.dir or tempfile.mkdtemp(prefix="fastconv-large-image-")
    os.makedirs(workdir, exist_ok=True)
    image_path = os.path.join(workdir, "image.npy")
    filtered_path = os.path.join(workdir, "filtered.npy")

    def execute(graph_result, what):
        start = time.perf_counter()
        if client is None:
            with ProgressBar():
                dask.compute(graph_result)
        else:
            from distributed import progress
            future = client.compute(graph_result)
            progress(future)
            future.result()
        seconds = time.perf_counter() - start
        print(f"{what}: {seconds:.1f} s")
        return seconds

    try:
        print(f"image {shape} float32 ({np.prod(shape) * 4 / 1e9:.1f} GB) in {workdir}, "
              f"chunks {chunks}")
        image = NpyFile(image_path, shape)
        synthetic = da.map_blocks(synthetic_block, chunks=da.core.normalize_chunks(
            chunks, shape), dtype=np.float32, meta=np.empty((0,) * 4, np.float32))
        execute(da.store(synthetic, image, lock=False, compute=False), "write the image")

        rng = np.random.default_rng(0)
        weight = rng.standard_normal((args.out_bands, args.bands, args.kernel, args.kernel),
                                     dtype=np.float32) / args.kernel
        bias = rng.standard_normal(args.out_bands, dtype=np.float32)
        x = da.from_array(NpyFile(image_path), chunks=chunks, lock=False,
                          meta=np.empty((0,) * 4, np.float32))
        y = fastconv.dask.conv2d(x, weight, bias, padding="same")
        filtered = NpyFile(filtered_path, y.shape)
        print(f"{args.kernel}x{args.kernel} conv {args.bands} -> {args.out_bands} bands, "
              f"output {y.shape}, {y.npartitions} chunks")
        seconds = execute(da.store(y, filtered, lock=False, compute=False), "filter")
        flops = 2 * args.out_bands * args.bands * args.kernel ** 2 * args.size ** 2
        print(f"{flops / 1e12:.2f} TFLOP in {seconds:.1f} s: {flops / seconds / 1e9:.1f} "
              f"GFLOP/s (reading and writing included)")
        print(f"peak resident memory: {peak_rss_bytes(client) / 2**30:.2f} GiB "
              f"(ru_maxrss, this process{' + workers' if client else ''})")

        if args.check:
            whole = fastconv.conv2d(np.load(image_path), weight, bias, padding="same")
            result = np.load(filtered_path)
            err = np.linalg.norm(result - whole) / np.linalg.norm(whole)
            print(f"check against fastconv.conv2d on the whole image: normwise error "
                  f"{err:.2e}")
            if not err <= 1e-5:  # float32, and chunks may pick another algorithm
                raise SystemExit("check failed")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=20000, help="image height and width")
    parser.add_argument("--bands", type=int, default=8)
    parser.add_argument("--out-bands", type=int, default=4)
    parser.add_argument("--kernel", type=int, default=15)
    # Short, wide chunks: each output chunk reads its own input chunk and the ones below and
    # beside it, so dask keeps about two rows of input chunks; their memory is
    # chunk_rows x width x bands x 4 bytes each (160 MB per row at 20000 x 8, 256 rows).
    parser.add_argument("--chunk-rows", type=int, default=256)
    parser.add_argument("--chunk-cols", type=int, default=4096)
    parser.add_argument("--scheduler", choices=("threads", "distributed"), default="threads")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                        help="dask threads (or worker processes); each runs fastconv on one "
                             "core")
    parser.add_argument("--dir", help="where to write the files (default: a new temporary "
                                      "directory)")
    parser.add_argument("--keep", action="store_true", help="keep the files")
    parser.add_argument("--check", action="store_true",
                        help="compare with fastconv.conv2d on the whole image (small sizes)")
    args = parser.parse_args(argv)
    args.chunk_rows, args.chunk_cols = min(args.chunk_rows, args.size), min(args.chunk_cols,
                                                                          args.size)

    # One core per dask thread or worker: fastconv's own threads would oversubscribe them.
    fastconv.set_num_threads(1)
    if args.scheduler == "threads":
        with dask.config.set(scheduler="threads", num_workers=args.workers):
            run(args)
        return
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      dashboard_address=None, env={"FASTCONV_NUM_THREADS": "1"}) as cluster:
        with Client(cluster) as client:
            run(args, client)


if __name__ == "__main__":
    main()
