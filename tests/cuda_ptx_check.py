"""Compile every cuda kernel to PTX for a real GPU (sm_90), both dtypes, without a GPU.

The simulator runs kernels as Python, so it cannot catch what only Numba's CUDA compiler
rejects (typing, unsupported constructs) or notice a float32 kernel computing in float64.
This script needs numba-cuda with NVVM and NVRTC (pip install "nvidia-nvvm==13.*"
"nvidia-cuda-nvrtc==13.*") but no driver; run with NUMBA_ENABLE_CUDASIM=0. Exit status 77
means "cannot check here" (tests/test_cuda.py then skips).
"""
import os
import sys
import types as pytypes

SKIP = 77


def main() -> int:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "0"
    try:
        from numba import cuda, types
        import numba.cuda.dispatcher as dispatcher
        from numba.cuda.cudadrv import nvrtc, nvvm
        nvvm.NVVM()
        nvrtc.get_supported_ccs()
    except Exception as exc:  # no numba-cuda, NVVM or NVRTC
        print(f"cannot compile PTX here: {exc}")
        return SKIP
    # Device functions take their compute capability from the current device; there is none.
    dispatcher.get_current_device = lambda: pytypes.SimpleNamespace(compute_capability=(9, 0))

    from fastconv.backends import numba_cuda as nc
    i64, b1 = types.int64, types.boolean
    failures = 0
    for name in ("float32", "float64"):
        dt = getattr(types, name)
        A1, A2, A3, A4 = (types.Array(dt, nd, "C") for nd in (1, 2, 3, 4))
        conv = (i64,) * 6  # sh, sw, dh, dw, pt, pl
        signatures = {
            "direct": (A4, A4, A1, A4, b1, *conv, i64, i64, i64, i64, i64, b1, b1),
            "direct_single": (A4, A4, A1, A4, b1, *conv, i64, i64, i64, i64, i64, b1, b1),
            "implicit_gemm": (A4, A2, A1, A4, b1, *conv, i64, i64, i64, i64),
            "fft_input_tiles": (A4, A3, A3) + (i64,) * 9,
            "fft_kernel_tiles": (A4, A3, A3) + (i64,) * 6,
            "fft_contract_inverse": (A3, A3, A3, A3, A1, A4, b1) + (i64,) * 11,
        }
        kernels = nc._compile(name, nc.GPU)
        for kernel, sig in signatures.items():
            ptx, _ = cuda.compile_ptx(kernels[kernel].py_func, sig, cc=(9, 0))
            # float32 kernels must not do float64 arithmetic outside the FFT twiddle set-up
            # (cos/sin once per block); spilled local memory would mean lost register blocks
            f64 = ptx.count("f64") if name == "float32" else 0
            spills = ptx.count(".local") if kernel.startswith(("direct", "implicit")) else 0
            ok = spills == 0 and (f64 == 0 or kernel.startswith("fft"))
            failures += not ok
            print(f"{name:8s} {kernel:22s} {'ok' if ok else 'FAIL'}  f64 ops {f64}, local {spills}")
    A = types.Array(types.float32, 4, "A")
    F4, F3, F1 = (types.Array(types.float32, nd, "C") for nd in (4, 3, 1))
    ew = nc._elementwise()
    for kernel, sig in {"gather4": (A, F4, i64, b1), "gather3": (types.Array(types.float32, 3,
                        "A"), F4, i64, b1), "gather1": (types.Array(types.float32, 1, "A"), F1),
                        "scatter4": (F4, F4), "scatter3": (F4, F3)}.items():
        cuda.compile_ptx(ew[kernel].py_func, sig, cc=(9, 0))
        print(f"{'any':8s} {kernel:22s} ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
