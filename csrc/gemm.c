/* GEMM: the block-size table and the per-dtype instantiation of the loops (gemm_driver.h).
 * Only the microkernels (gemm_ukernel_<isa>.c) are per ISA; packing and loops are here, once. */
#include "gemm_internal.h"

/* ---- block sizes --------------------------------------------------------------------------
 * The table holds built-in defaults. When the extension loads, the Python layer replaces them
 * (fc_*_set_gemm_blocking) with blocks derived from this CPU's cache sizes by the rule in
 * fastconv/machine_params.py, or with blocks `fastconv tune --machine` measured here.
 * The defaults were chosen for AMD Zen 4 (32 KiB L1d, 1 MiB L2 per core, 32 MiB L3), with the
 * BLIS reasoning:
 *   KC: one packed B micro-panel (KC x NR) stays in L1 while the ir loop streams A micro-
 *       panels past it: KC * NR * size <= ~1/2..3/4 L1, leaving room for the A panel in
 *       flight and the C tile. Larger KC amortises the C tile load/store (once per KC
 *       rank-1 updates).
 *   MC: the packed A block (MC x KC) stays in L2 across the jr loop: MC * KC * size <= ~1/2
 *       L2 (the B micro-panels and C tiles also pass through L2). MC is a multiple of MR.
 *   NC: the packed B block (KC x NC, one per thread) lives in L3: KC * NC * size ~ a few
 *       MiB of the 32 MiB L3. NC is a multiple of NR; conv GEMMs (n <= 3136 here) fit one
 *       block, so A is packed (when it is) once.
 * AVX2 fp32 6x16: KC 384 -> B micro-panel 24 KiB (3/4 of L1: the A micro-panel streams
 *      through the rest, 6 x 4 bytes per k step); MC 240 -> A block 360 KiB (1/3 of L2);
 *      NC 4080 -> B block 6 MiB of the 32 MiB L3 (per thread: see gemm_driver.h).
 *      Measured with bench/tune_gemm_blocking.c (configurations interleaved, 30 rounds,
 *      1 thread; 1024^3, 512x2048x196, 128x1152x784, 256x64x3136): KC 256..512 and MC
 *      96..480 are all within the +-5% noise of this shared machine; 384 / 240 was best or
 *      tied on 3 of 4 shapes.
 * AVX2 fp64 6x8: the same bytes: KC 384 (B micro-panel 24 KiB), MC 120 (360 KiB).
 * AVX-512 (not measured here: this machine has no AVX-512): 14x32 fp32 KC 192 -> B panel
 *      24 KiB of a 32 KiB L1 (48 KiB on Zen 4 / Ice Lake); MC 168 -> 126 KiB; fp64 14x16
 *      the same bytes. Untuned starting points from the same arithmetic.
 * Portable 4x8 / 4x4: the same arithmetic on 16-byte vectors. */
/* uk: the MR x NR microkernel. dot (NULL: none): the kernel for a last panel of at most NR/4
 * columns when A is read in place with unit column stride (see gemm_dot_vec.h). pack_a
 * (NULL: the driver's loops): packs MR full rows of a row-major A. */
typedef struct {
    fc_gemm_blocking blk;
    fc_f32_ukernel_fn uk, dot;
    fc_f32_pack_a_fn pack_a;
} f32_kernel;

typedef struct {
    fc_gemm_blocking blk;
    fc_f64_ukernel_fn uk, dot;
    fc_f64_pack_a_fn pack_a;
} f64_kernel;

#define F32_SCALAR {{4, 8, 128, 256, 4096}, fc_f32_gemm_ukernel_4x8__scalar, NULL, NULL}
#define F64_SCALAR {{4, 4, 128, 256, 4096}, fc_f64_gemm_ukernel_4x4__scalar, NULL, NULL}

static f32_kernel F32_TABLE[3] = {
    F32_SCALAR,
#if FC_X86_64
    {{6, 16, 240, 384, 4080}, fc_f32_gemm_ukernel_6x16__avx2, fc_f32_gemm_dot_6x4__avx2, NULL},
    {{14, 32, 168, 192, 4096}, fc_f32_gemm_ukernel_14x32__avx512, fc_f32_gemm_dot_14x8__avx512,
     fc_f32_gemm_pack_a_14__avx512},
#else
    F32_SCALAR,
    F32_SCALAR,
#endif
};

static f64_kernel F64_TABLE[3] = {
    F64_SCALAR,
#if FC_X86_64
    {{6, 8, 120, 384, 4080}, fc_f64_gemm_ukernel_6x8__avx2, fc_f64_gemm_dot_6x2__avx2, NULL},
    {{14, 16, 84, 192, 4096}, fc_f64_gemm_ukernel_14x16__avx512, fc_f64_gemm_dot_14x4__avx512,
     fc_f64_gemm_pack_a_14__avx512},
#else
    F64_SCALAR,
    F64_SCALAR,
#endif
};

#define GD_T float
#define GD_P f32
#define GD_OP fc_f32_gemm_op
#define GD_UKFN fc_f32_ukernel_fn
#define GD_TABLE F32_TABLE
#define GD_KERNEL f32_kernel
#include "gemm_driver.h"

#define GD_T double
#define GD_P f64
#define GD_OP fc_f64_gemm_op
#define GD_UKFN fc_f64_ukernel_fn
#define GD_TABLE F64_TABLE
#define GD_KERNEL f64_kernel
#include "gemm_driver.h"

/* Replaces one table entry's cache blocks (fastconv.h); mr and nr are the microkernel's. */
static fc_status set_blocking(fc_gemm_blocking *b, fc_isa isa, const fc_gemm_blocking *want) {
    if ((int)isa < FC_ISA_SCALAR || (int)isa > FC_ISA_AVX512 || want == NULL)
        return FC_ERR_INVALID_ARGUMENT;
    if (want->mr != b->mr || want->nr != b->nr || want->kc < 1 || want->kc > 65536 ||
        want->mc < b->mr || want->mc > 65536 || want->nc < b->nr || want->nc > ((int64_t)1 << 20))
        return FC_ERR_INVALID_ARGUMENT;
    b->mc = want->mc / b->mr * b->mr;
    b->kc = want->kc;
    b->nc = want->nc / b->nr * b->nr;
    return FC_OK;
}

fc_status fc_f32_set_gemm_blocking(fc_isa isa, const fc_gemm_blocking *blk) {
    if ((int)isa < FC_ISA_SCALAR || (int)isa > FC_ISA_AVX512) return FC_ERR_INVALID_ARGUMENT;
    return set_blocking(&F32_TABLE[isa].blk, isa, blk);
}

fc_status fc_f64_set_gemm_blocking(fc_isa isa, const fc_gemm_blocking *blk) {
    if ((int)isa < FC_ISA_SCALAR || (int)isa > FC_ISA_AVX512) return FC_ERR_INVALID_ARGUMENT;
    return set_blocking(&F64_TABLE[isa].blk, isa, blk);
}
