/* The depthwise convolution kernel, written once: a template that csrc/conv_depthwise_<isa>.c
 * includes once per element type, after defining the macros below. No include guard on purpose.
 *
 * The including file defines (this file #undefs the per-type ones at its end):
 *   FC_T, FC_TNAME       element type (float, double) and its name in symbols (f32, f64)
 *   FC_ISA               the ISA suffix of symbols (scalar, avx2, avx512); kept defined
 *   FC_ACC, FC_NV        row path: accumulators of a tile, most vectors along the width
 *   FC_ACC3              row path, 3x3 tile with the weights in registers: accumulators
 *   FC_P, FC_CV          channel path: output pixels x channel vectors of a tile
 *   FC_VEC, FC_VL, FC_VMASK
 *   FC_VZERO()  FC_VSET1(s)  FC_VLOAD(p)  FC_VSTORE(p, v)  FC_VFMA(a, b, c) = a * b + c
 *   FC_VMASK_FIRST(n)    mask of lanes t < n (0 < n <= FC_VL)
 *   FC_VLOAD_MASK(p, m), FC_VSTORE_MASK(p, m, v)   lanes outside m are neither read nor written
 *   FC_VSTORE_MASK_FAST  1 where a masked store costs about a plain one (AVX-512), else 0
 *   FC_VTRANSPOSE(r)     in-place FC_VL x FC_VL transpose of FC_VEC r[FC_VL]
 *   FC_VDEINTERLEAVE(a, b, even, odd)   even = elements 0, 2, .. of a then b; odd = 1, 3, ..
 * and gets fc_<FC_TNAME>_conv2d_depthwise__<FC_ISA>() (prototype in conv_depthwise.h).
 *
 * Problem: groups == c_in, so output channel k reads input channel k / mult alone (mult =
 * c_out / c_in, the depth multiplier); a 1 -> 1 convolution (image filtering) is one plane.
 *
 * Row path (any layout, stride, dilation, multiplier), vectorised along the output width. A task
 * is one band of output rows of one (image, channel) plane, possibly one column chunk of it:
 *  - Input rows are packed once each into a per-task ring of rows on the stack, zero-padded
 *    left and right and split into stride_w phases (phase q, position e holds input column
 *    col0 + q + e * stride_w), so tap s of every output column is one contiguous unaligned
 *    vector load at phase (s*dil_w) % stride_w, offset (s*dil_w) / stride_w: no borders, no
 *    masks, no gathers in the hot loop, and stride 2 costs one deinterleave per input row.
 *    Rows above and below the image point at one zero row, so no tap range depends on the row.
 *  - A register tile is R output rows x NV vectors (R * NV <= FC_ACC): per tap, one broadcast
 *    weight feeds R * NV FMAs. Rows of a band are cut into balanced blocks of at most R, the
 *    width into balanced tiles of at most FC_NV vectors; (R, NV) is a compile-time instance.
 *    3x3 kernels (dil_h 1, stride_h 1 or 2, all of MobileNet) keep the nine weights in
 *    registers instead and load each input vector once for all the tile rows that read it
 *    (R * NV <= FC_ACC3).
 *  - Block sizes, tile sizes and their remainders are computed once per call and a run of
 *    tasks decodes its first task's index once and then counts, so a task (a 7x7 plane is a few
 *    hundred cycles) divides nothing.
 *  - Rows wider than the ring allows are cut into column chunks; kernels or rings beyond the
 *    stack limits (conv_depthwise.h) take the generic scalar loops.
 * Channel path (NHWC with mult == 1 and at least one vector of channels): a task is a band of
 * output rows of one block of FC_CV vectors of channels; its weights are packed once as
 * [kh][kw][channels]; a tile is FC_P adjacent output pixels x FC_CV channel vectors, taps (r, s)
 * outside, so each weight vector feeds FC_P FMAs. Columns whose taps all lie inside the image
 * run in such tiles; border and leftover pixels run one at a time with their own tap range.
 * Threads: one fc_parallel_for over the tasks, in runs of consecutive tasks that the threads
 * take as they come (shrinking towards the end, so a thread that starts late leaves its runs
 * to the others); bands are cut so that there are at least eight tasks per thread when the planes (or
 * channel blocks) alone give fewer.
 * No heap allocation: rings, weights and tiles live on the stack (limits in conv_depthwise.h).
 */

#ifndef FC_DW_TEMPLATE_HELPERS
#define FC_DW_TEMPLATE_HELPERS

#define FC_DW_CAT_(t, name, isa) fc_##t##_##name##__##isa
#define FC_DW_CAT(t, name, isa) FC_DW_CAT_(t, name, isa)
#define FC_DWFN(name) FC_DW_CAT(FC_TNAME, name, FC_ISA)
#define FC_DW_INLINE static inline __attribute__((always_inline))

/* Floor and ceiling of a / b for any sign of a and b > 0; clamp to [lo, hi]. */
static inline int64_t fc_dw_floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}
static inline int64_t fc_dw_ceil_div(int64_t a, int64_t b) { return -fc_dw_floor_div(-a, b); }
static inline int64_t fc_dw_clamp(int64_t v, int64_t lo, int64_t hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}
/* Valid range [lo, hi) of t for which a + t * step lies in [0, n), t clamped to [0, len]. */
static inline void fc_dw_valid_range(int64_t a, int64_t step, int64_t n, int64_t len,
                                     int64_t *lo, int64_t *hi) {
    if (step == 1) { /* the common case, without the divisions (tens of cycles each) */
        *lo = fc_dw_clamp(-a, 0, len);
        *hi = fc_dw_clamp(n - a, *lo, len);
        return;
    }
    *lo = fc_dw_clamp(fc_dw_ceil_div(-a, step), 0, len);
    *hi = fc_dw_clamp(fc_dw_floor_div(n - 1 - a, step) + 1, *lo, len);
}
/* Bands of rows so that planes * bands gives at least 8 tasks per thread (when rows allow
 * blocks of min_rows); returns rows per band. */
static inline int64_t fc_dw_band_rows(int64_t planes, int64_t rows, int64_t min_rows,
                                      int nthreads) {
    int64_t bands = nthreads > 1 ? fc_div_up(8 * (int64_t)nthreads, planes) : 1;
    bands = fc_dw_clamp(bands, 1, FC_MAX(1, rows / FC_MAX(min_rows, 1)));
    return fc_div_up(rows, bands);
}
/* n items cut into `parts` balanced parts: the first `extra` have base + 1 items, the rest
 * base. Computed once per call, so the tasks' loops divide nothing. */
typedef struct fc_dw_split {
    int64_t parts, base, extra;
} fc_dw_split;
static inline fc_dw_split fc_dw_balanced(int64_t n, int64_t most) {
    fc_dw_split sp;
    sp.parts = n > 0 ? fc_div_up(n, most) : 0;
    sp.base = sp.parts ? n / sp.parts : 0;
    sp.extra = sp.parts ? n % sp.parts : 0;
    return sp;
}
#endif /* FC_DW_TEMPLATE_HELPERS */

/* ---- row path ------------------------------------------------------------------------------ */

/* What a row-path task shares with all others, computed once per call. */
typedef struct FC_DWFN(dw_rows_ctx) {
    const fc_conv2d_desc *d;
    const FC_T *x, *w, *bias;
    FC_T *y;
    int64_t mult;
    int64_t nv;        /* vectors of a full column tile */
    int k3;            /* 3x3, dil_h 1, stride_h 1 or 2: the register-weight tile */
    int64_t rmax;      /* rows of a full row block */
    int64_t ring;      /* packed rows the ring holds (a power of two, so a slot is ih & (ring-1)):
                          at least the rows one block of rmax rows reads */
    int64_t chunk_v;   /* vectors of output columns per column chunk */
    int64_t nchunks, band_rows, nbands;
    int64_t mmax;      /* (kw-1)*dil_w / stride_w: positions a phase needs beyond the outputs */
    int64_t pl, rl;    /* positions per phase (chunk_v * VL + mmax), elements per packed row
                          (stride_w * pl and VL elements of slack) */
    int64_t off[FC_DW_KMAX]; /* packed position of tap s: phase (s*dil_w) % sw, (s*dil_w) / sw */
    fc_dw_split blocks[2]; /* row blocks of a full band [0] and of the last band [1] */
    fc_dw_split tiles[2];  /* column tiles of a full chunk [0] and of the last chunk [1] */
} FC_DWFN(dw_rows_ctx);

/* dst[0, n) = lanes t < n of v (0 < n < FC_VL). AVX-512's mask stores cost a plain store; AVX2's
 * vmaskmov stores are slow on AMD Zen, so there the lanes go through a stack vector. */
FC_DW_INLINE void FC_DWFN(dw_store_first)(FC_T *dst, FC_VEC v, int n) {
#if FC_VSTORE_MASK_FAST
    FC_VSTORE_MASK(dst, FC_VMASK_FIRST(n), v);
#else
    FC_T tmp[FC_VL];
    FC_VSTORE(tmp, v);
    for (int j = 0; j < n; j++) dst[j] = tmp[j];
#endif
}

/* Stores R x NV accumulator vectors at column col of the output rows (ncols valid). */
FC_DW_INLINE void FC_DWFN(dw_rows_store)(const int R, const int NV, FC_VEC (*acc)[FC_NV],
                                          FC_T *const *rows, int64_t col, int64_t ys3,
                                          int64_t ncols) {
    if (ys3 == 1 && ncols == NV * FC_VL) {
#pragma GCC unroll 24
        for (int rho = 0; rho < R; rho++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) FC_VSTORE(rows[rho] + col + v * FC_VL, acc[rho][v]);
    } else if (ys3 == 1) { /* ragged end: whole vectors, then the first nc % FC_VL lanes */
        const int64_t nc = FC_MIN(ncols, (int64_t)NV * FC_VL);
        const int full = (int)(nc / FC_VL), rest = (int)(nc % FC_VL);
        for (int rho = 0; rho < R; rho++) {
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) { /* (to NV, not full: the compiler sees the bound) */
                if (v < full)
                    FC_VSTORE(rows[rho] + col + v * FC_VL, acc[rho][v]);
                else if (v == full && rest)
                    FC_DWFN(dw_store_first)(rows[rho] + col + v * FC_VL, acc[rho][v], rest);
            }
        }
    } else { /* strided y: through a stack tile */
        FC_T tmp[FC_NV * FC_VL];
        const int64_t nc = FC_MIN(ncols, (int64_t)NV * FC_VL);
        for (int rho = 0; rho < R; rho++) {
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) FC_VSTORE(tmp + v * FC_VL, acc[rho][v]);
            for (int64_t j = 0; j < nc; j++) rows[rho][(col + j) * ys3] = tmp[j];
        }
    }
}

/* One tile: rows[rho] + col * ys3 (rho < R) are the output rows at the tile's first column,
 * rp[rho * sh + r * dh] + col the packed input row of tap r (or the zero row); off[s] the
 * packed position of tap s; wt the kh x kw weights. Writes ncols (<= NV * VL) columns. */
FC_DW_INLINE void FC_DWFN(dw_rows_ukernel)(const int R, const int NV, const FC_T *const *rp,
                                            int64_t sh, int64_t dh, int64_t col, int64_t kh,
                                            int64_t kw,
                                            const int64_t *off, const FC_T *wt, FC_T bias,
                                            FC_T *const *rows, int64_t ys3, int64_t ncols) {
    FC_VEC acc[FC_DW_RMAX][FC_NV];
    const FC_VEC b0 = FC_VSET1(bias);
#pragma GCC unroll 24
    for (int rho = 0; rho < R; rho++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[rho][v] = b0;
    for (int64_t r = 0; r < kh; r++) {
        const FC_T *p[FC_DW_RMAX];
#pragma GCC unroll 24
        for (int rho = 0; rho < R; rho++) p[rho] = rp[rho * sh + r * dh] + col;
        const FC_T *wr = wt + r * kw;
        for (int64_t s = 0; s < kw; s++) {
            const FC_VEC wv = FC_VSET1(wr[s]);
            const int64_t o = off[s];
#pragma GCC unroll 24
            for (int rho = 0; rho < R; rho++)
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++)
                    acc[rho][v] = FC_VFMA(wv, FC_VLOAD(p[rho] + o + v * FC_VL), acc[rho][v]);
        }
    }
    FC_DWFN(dw_rows_store)(R, NV, acc, rows, col, ys3, ncols);
}

/* The 3x3 tile (dil_h 1, stride_h SH = 1 or 2): the nine weights stay in registers and each
 * input vector loaded feeds every output row of the tile that reads it (rows rho and rho + 1
 * share 3 - SH input rows), so the loads per FMA drop from about 1 to (R-1)*SH+3 / (3*R).
 * R * NV <= FC_ACC3 accumulators, 9 weights and 1 input vector fit the register file. */
FC_DW_INLINE void FC_DWFN(dw_rows_ukernel3)(const int R, const int NV, const int SH,
                                             const FC_T *const *rp, int64_t col,
                                             const int64_t *off, const FC_T *wt, FC_T bias,
                                             FC_T *const *rows, int64_t ys3, int64_t ncols) {
    FC_VEC acc[FC_DW_RMAX][FC_NV];
    const FC_VEC b0 = FC_VSET1(bias);
#pragma GCC unroll 24
    for (int rho = 0; rho < R; rho++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[rho][v] = b0;
    FC_VEC wv[9];
#pragma GCC unroll 9
    for (int i = 0; i < 9; i++) wv[i] = FC_VSET1(wt[i]);
    const int64_t o[3] = {off[0], off[1], off[2]};
    /* input row t of the tile is tap r = t - rho * SH of output row rho */
#pragma GCC unroll 64
    for (int t = 0; t < (R - 1) * SH + 3; t++) {
        const FC_T *q = rp[t] + col;
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
#pragma GCC unroll 3
            for (int s = 0; s < 3; s++) {
                const FC_VEC xv = FC_VLOAD(q + o[s] + v * FC_VL);
#pragma GCC unroll 24
                for (int rho = 0; rho < R; rho++) {
                    const int r = t - rho * SH;
                    if (r >= 0 && r < 3) acc[rho][v] = FC_VFMA(wv[r * 3 + s], xv, acc[rho][v]);
                }
            }
    }
    FC_DWFN(dw_rows_store)(R, NV, acc, rows, col, ys3, ncols);
}

/* One instance per (R, NV), selected by a jump table; instances with R * NV <= FC_ACC only. */
#define FC_DW_CASE(R, NV)                                                                     \
    case (R) * 4 + (NV):                                                                      \
        FC_DWFN(dw_rows_ukernel)(R, NV, rp, sh, dh, col, kh, kw, off, wt, bias, rows, ys3,    \
                                 ncols);                                                      \
        return;
#define FC_DW_CASES_1_4(NV) FC_DW_CASE(1, NV) FC_DW_CASE(2, NV) FC_DW_CASE(3, NV) FC_DW_CASE(4, NV)
#define FC_DW_CASES_5_8(NV) FC_DW_CASE(5, NV) FC_DW_CASE(6, NV) FC_DW_CASE(7, NV) FC_DW_CASE(8, NV)
#define FC_DW_CASES_9_12(NV)                                                                  \
    FC_DW_CASE(9, NV) FC_DW_CASE(10, NV) FC_DW_CASE(11, NV) FC_DW_CASE(12, NV)
#if FC_ACC >= 24
#define FC_DW_CASES_13_24(NV)                                                                 \
    FC_DW_CASE(13, NV) FC_DW_CASE(14, NV) FC_DW_CASE(15, NV) FC_DW_CASE(16, NV)               \
    FC_DW_CASE(17, NV) FC_DW_CASE(18, NV) FC_DW_CASE(19, NV) FC_DW_CASE(20, NV)               \
    FC_DW_CASE(21, NV) FC_DW_CASE(22, NV) FC_DW_CASE(23, NV) FC_DW_CASE(24, NV)
#else
#define FC_DW_CASES_13_24(NV)
#endif
#if FC_ACC != 12 && FC_ACC != 24
#error "conv_depthwise_impl.h: FC_ACC must be 12 or 24"
#endif
#if FC_NV != 3
#error "conv_depthwise_impl.h: the jump table below assumes FC_NV == 3"
#endif

/* (No library calls in the run functions: the ragged-end copies of strided rows.) */
FC_NO_LIBCALLS static void FC_DWFN(dw_rows_run)(int R, int nv, const FC_T *const *rp,
                                                int64_t sh, int64_t dh, int64_t col, int64_t kh,
                                                int64_t kw, const int64_t *off, const FC_T *wt,
                                                FC_T bias, FC_T *const *rows, int64_t ys3,
                                                int64_t ncols) {
    switch (R * 4 + nv) {
        FC_DW_CASES_1_4(1) FC_DW_CASES_5_8(1) FC_DW_CASES_9_12(1) FC_DW_CASES_13_24(1)
        FC_DW_CASES_1_4(2) FC_DW_CASE(5, 2) FC_DW_CASE(6, 2)
        FC_DW_CASES_1_4(3)
#if FC_ACC >= 24
        FC_DW_CASE(7, 2) FC_DW_CASE(8, 2) FC_DW_CASE(9, 2) FC_DW_CASE(10, 2)
        FC_DW_CASE(11, 2) FC_DW_CASE(12, 2) FC_DW_CASES_5_8(3)
#endif
    default:
        return; /* unreachable: the caller keeps 1 <= nv <= FC_NV and R * nv <= FC_ACC */
    }
}

#define FC_DW_CASE3(R, NV, SH)                                                                \
    case ((SH) * 32 + (R)) * 4 + (NV):                                                        \
        FC_DWFN(dw_rows_ukernel3)(R, NV, SH, rp, col, off, wt, bias, rows, ys3, ncols);       \
        return;
#define FC_DW_CASES3(SH)                                                                      \
    FC_DW_CASE3(1, 1, SH) FC_DW_CASE3(2, 1, SH) FC_DW_CASE3(3, 1, SH) FC_DW_CASE3(4, 1, SH)   \
    FC_DW_CASE3(5, 1, SH) FC_DW_CASE3(6, 1, SH) FC_DW_CASE3(1, 2, SH) FC_DW_CASE3(2, 2, SH)   \
    FC_DW_CASE3(3, 2, SH) FC_DW_CASE3(1, 3, SH) FC_DW_CASE3(2, 3, SH)
#if FC_ACC3 >= 12
#define FC_DW_CASES3_HI(SH)                                                                   \
    FC_DW_CASE3(7, 1, SH) FC_DW_CASE3(8, 1, SH) FC_DW_CASE3(9, 1, SH) FC_DW_CASE3(10, 1, SH)  \
    FC_DW_CASE3(11, 1, SH) FC_DW_CASE3(12, 1, SH) FC_DW_CASE3(4, 2, SH)                       \
    FC_DW_CASE3(5, 2, SH) FC_DW_CASE3(6, 2, SH) FC_DW_CASE3(3, 3, SH) FC_DW_CASE3(4, 3, SH)
#else
#define FC_DW_CASES3_HI(SH)
#endif
#if FC_ACC3 != 6 && FC_ACC3 != 12
#error "conv_depthwise_impl.h: FC_ACC3 must be 6 or 12"
#endif

FC_NO_LIBCALLS static void FC_DWFN(dw_rows_run3)(int R, int nv, int sh, const FC_T *const *rp,
                                                 int64_t col, const int64_t *off, const FC_T *wt,
                                                 FC_T bias, FC_T *const *rows, int64_t ys3,
                                                 int64_t ncols) {
    switch ((sh * 32 + R) * 4 + nv) {
        FC_DW_CASES3(1) FC_DW_CASES3(2) FC_DW_CASES3_HI(1) FC_DW_CASES3_HI(2)
    default:
        return; /* unreachable: sh is 1 or 2, 1 <= nv <= FC_NV and R * nv <= FC_ACC3 */
    }
}

/* dst[0, n) = 0 in whole vectors: may write up to VL - 1 elements past n (packed rows keep
 * that much slack; see rl). Short rows are the common case, so no memset call. */
FC_DW_INLINE void FC_DWFN(dw_zero)(FC_T *dst, int64_t n) {
    for (int64_t e = 0; e < n; e += FC_VL) FC_VSTORE(dst + e, FC_VZERO());
}

/* dw_pack_row for stride 2 on a contiguous row: both phases in one pass, each pair of input
 * vectors split into its even and odd columns (gcc's vectorisation of the strided copy, one
 * phase at a time, took half of a 144-channel 56x56 layer's time). Zeros first, then the
 * copies, so a whole-vector zero store past its range is overwritten; phase 0's tail is zeroed
 * before phase 1's data, which its last store may reach. */
FC_NO_LIBCALLS static void FC_DWFN(dw_pack_row2)(const FC_T *xrow, int64_t col0, int64_t pl,
                                                 const int64_t *lo_q, const int64_t *hi_q,
                                                 FC_T *dst) {
    FC_T *restrict even = dst, *restrict odd = dst + pl;
    FC_DWFN(dw_zero)(even, lo_q[0]);
    FC_DWFN(dw_zero)(odd, lo_q[1]);
    FC_DWFN(dw_zero)(even + hi_q[0], pl - hi_q[0]);
    /* position e of phase q holds column col0 + q + 2 e; both phases valid on [lo, hi) */
    const int64_t lo = FC_MAX(lo_q[0], lo_q[1]), hi = FC_MAX(lo, FC_MIN(hi_q[0], hi_q[1]));
    for (int64_t e = lo_q[0]; e < FC_MIN(lo, hi_q[0]); e++) even[e] = xrow[col0 + 2 * e];
    for (int64_t e = lo_q[1]; e < FC_MIN(lo, hi_q[1]); e++) odd[e] = xrow[col0 + 1 + 2 * e];
    int64_t e = lo;
    for (; e + FC_VL <= hi; e += FC_VL) {
        const FC_T *src = xrow + col0 + 2 * e;
        FC_VEC ev, od;
        FC_VDEINTERLEAVE(FC_VLOAD(src), FC_VLOAD(src + FC_VL), ev, od);
        FC_VSTORE(even + e, ev);
        FC_VSTORE(odd + e, od);
    }
    for (int64_t t = e; t < hi_q[0]; t++) even[t] = xrow[col0 + 2 * t];
    for (int64_t t = e; t < hi_q[1]; t++) odd[t] = xrow[col0 + 1 + 2 * t];
    FC_DWFN(dw_zero)(odd + hi_q[1], pl - hi_q[1]);
}

/* Packs input row xrow into dst: for every phase q < sw, pl positions e holding
 * x[col0 + q + e * sw], zero outside [0, w), i.e. outside [lo[q], hi[q]) (computed per task,
 * not per row: integer divisions cost more than the copy of a short row). Each phase is written
 * in order zeros, copy, zeros with whole vectors, so what one store writes past its range is
 * overwritten by the next (or lands in the row's slack). */
FC_NO_LIBCALLS static void FC_DWFN(dw_pack_row)(const fc_conv2d_desc *d, const FC_T *xrow,
                                                int64_t col0, int64_t pl, const int64_t *lo_q,
                                                const int64_t *hi_q, FC_T *dst) {
    const int64_t sw = d->stride_w, xs3 = d->x_stride[3];
    if (sw == 2 && xs3 == 1) {
        FC_DWFN(dw_pack_row2)(xrow, col0, pl, lo_q, hi_q, dst);
        return;
    }
    for (int64_t q = 0; q < sw; q++, dst += pl) {
        const int64_t lo = lo_q[q], hi = hi_q[q];
        FC_DWFN(dw_zero)(dst, lo);
        const FC_T *src = xrow + (col0 + q + lo * sw) * xs3;
        const int64_t step = sw * xs3, n = hi - lo;
        FC_T *restrict out = dst + lo;
        if (step == 1 && n >= FC_VL) { /* the last vector overlaps the one before it */
            for (int64_t e = 0; e + FC_VL < n; e += FC_VL) FC_VSTORE(out + e, FC_VLOAD(src + e));
            FC_VSTORE(out + n - FC_VL, FC_VLOAD(src + n - FC_VL));
        } else if (step == 1) {
            for (int64_t e = 0; e < n; e++) out[e] = src[e];
        } else if (step == 2) { /* stride 2 on contiguous rows: a deinterleave gcc vectorises */
            for (int64_t e = 0; e < n; e++) out[e] = src[2 * e];
        } else {
            for (int64_t e = 0; e < n; e++) out[e] = src[e * step];
        }
        FC_DWFN(dw_zero)(dst + hi, pl - hi);
    }
}

/* Output rows [ia, ib) and column chunk jc of plane (b, k). */
/* No library calls: a task is a few hundred cycles, and gcc turns its 3-tap weight rows and the
 * zero row into memcpy / memset calls that cost 12% of a 144-channel 56x56 stride-2 layer. */
FC_NO_LIBCALLS static void FC_DWFN(dw_rows_task)(const FC_DWFN(dw_rows_ctx) *ctx, int64_t b,
                                                 int64_t k, int64_t band, int64_t jc) {
    const fc_conv2d_desc *d = ctx->d;
    const int64_t kh = d->kh, kw = d->kw, sh = d->stride_h, sw = d->stride_w;
    const int64_t dh = d->dil_h;
    const int64_t c = ctx->mult == 1 ? k : k / ctx->mult;
    const FC_T *xp = ctx->x + b * d->x_stride[0] + c * d->x_stride[1];
    FC_T *yp = ctx->y + b * d->y_stride[0] + k * d->y_stride[1];
    const int64_t ys2 = d->y_stride[2], ys3 = d->y_stride[3];

    FC_T wt[FC_DW_KMAX * FC_DW_KMAX];
    {
        const FC_T *wk = ctx->w + k * d->w_stride[0];
        for (int64_t r = 0; r < kh; r++)
            for (int64_t s = 0; s < kw; s++)
                wt[r * kw + s] = wk[r * d->w_stride[2] + s * d->w_stride[3]];
    }
    const FC_T bias = ctx->bias ? ctx->bias[k * d->bias_stride] : (FC_T)0;

    /* columns of this chunk and the packed-row geometry */
    const int64_t ja = jc * ctx->chunk_v * FC_VL;
    const int64_t ncols = FC_MIN(ctx->chunk_v * FC_VL, d->w_out - ja);
    const int64_t pl = ctx->pl, rl = ctx->rl, mask = ctx->ring - 1;
    const int64_t col0 = ja * sw - d->pad_left;
    const int64_t *off = ctx->off;
    int64_t lo_q[FC_DW_SMAX], hi_q[FC_DW_SMAX];
    for (int64_t q = 0; q < sw; q++) fc_dw_valid_range(col0 + q, sw, d->w, pl, &lo_q[q], &hi_q[q]);

    FC_T ring[FC_DW_BUFMAX];
    FC_T *zero_row = ring + ctx->ring * rl;
    FC_DWFN(dw_zero)(zero_row, rl - FC_VL);

    /* column tiles: the chunk's vectors in balanced tiles of at most ctx->nv; rows [ia, ib) in
     * balanced blocks of at most ctx->rmax */
    const fc_dw_split tiles = ctx->tiles[jc == ctx->nchunks - 1];
    const fc_dw_split blocks = ctx->blocks[band == ctx->nbands - 1];
    const int64_t ia = band * ctx->band_rows;
    int64_t packed_hi = INT64_MIN; /* rows below this are packed (or not needed again) */
    int64_t i0 = ia;
    for (int64_t blk = 0; blk < blocks.parts; blk++) {
        const int R = (int)(blocks.base + (blk < blocks.extra));
        /* pack the input rows this block reads that are not in the ring yet */
        const int64_t lo = i0 * sh - d->pad_top;
        const int64_t hi = (i0 + R - 1) * sh - d->pad_top + (kh - 1) * dh + 1;
        for (int64_t ih = FC_MAX(FC_MAX(lo, packed_hi), 0); ih < FC_MIN(hi, d->h); ih++)
            FC_DWFN(dw_pack_row)(d, xp + ih * d->x_stride[2], col0, pl, lo_q, hi_q,
                                 ring + (ih & mask) * rl);
        packed_hi = FC_MAX(packed_hi, hi);
        /* rp[t]: input row lo + t of the block, packed or the zero row */
        const FC_T *rp[FC_DW_ROWSMAX];
        for (int64_t t = 0; t < hi - lo; t++) {
            const int64_t ih = lo + t;
            rp[t] = (ih >= 0 && ih < d->h) ? ring + (ih & mask) * rl : zero_row;
        }
        FC_T *rows[FC_DW_RMAX];
        for (int rho = 0; rho < R; rho++)
            rows[rho] = yp + (i0 + rho) * ys2 + ja * ys3; /* + col * ys3 in the tile */
        int64_t v0 = 0;
        for (int64_t t = 0; t < tiles.parts; t++) {
            const int nv = (int)(tiles.base + (t < tiles.extra));
            const int64_t tcols = FC_MIN((int64_t)nv * FC_VL, ncols - v0 * FC_VL);
            if (ctx->k3)
                FC_DWFN(dw_rows_run3)(R, nv, (int)sh, rp, v0 * FC_VL, off, wt, bias, rows, ys3,
                                      tcols);
            else
                FC_DWFN(dw_rows_run)(R, nv, rp, sh, dh, v0 * FC_VL, kh, kw, off, wt, bias, rows,
                                     ys3, tcols);
            v0 += nv;
        }
        i0 += R;
    }
}

/* Sets up ctx for the row path; 0 when the problem is beyond its stack limits. */
static int FC_DWFN(dw_rows_plan)(FC_DWFN(dw_rows_ctx) *ctx) {
    const fc_conv2d_desc *d = ctx->d;
    if (d->kh > FC_DW_KMAX || d->kw > FC_DW_KMAX || d->stride_w > FC_DW_SMAX) return 0;
    ctx->mmax = (d->kw - 1) * d->dil_w / d->stride_w;
    const int64_t vrow = fc_div_up(d->w_out, FC_VL);
    const int64_t tiles = fc_div_up(vrow, FC_NV);
    ctx->nv = fc_div_up(vrow, tiles);
    ctx->k3 = d->kh == 3 && d->kw == 3 && d->dil_h == 1 && d->stride_h <= 2;
    const int64_t acc = ctx->k3 ? FC_ACC3 : FC_ACC;
    for (ctx->rmax = FC_MIN(acc / ctx->nv, d->h_out); ctx->rmax >= 1; ctx->rmax /= 2) {
        const int64_t span = (ctx->rmax - 1) * d->stride_h + (d->kh - 1) * d->dil_h + 1;
        if (span > FC_DW_ROWSMAX) return 0;
        for (ctx->ring = 1; ctx->ring < span;) ctx->ring *= 2;
        /* vectors per chunk that fit: (ring + 1 zero row) * rl <= BUFMAX, with
         * rl = sw * (v * VL + mmax) + VL */
        const int64_t per_row =
            (FC_DW_BUFMAX / (ctx->ring + 1) - FC_VL) / d->stride_w - ctx->mmax;
        const int64_t vfit = per_row / FC_VL;
        if (vfit >= 1) {
            ctx->nchunks = fc_div_up(vrow, vfit);
            ctx->chunk_v = fc_div_up(vrow, ctx->nchunks);
            if (ctx->chunk_v < ctx->nv) ctx->nv = ctx->chunk_v;
            const int64_t planes = d->n * d->c_out * ctx->nchunks;
            ctx->band_rows = fc_dw_band_rows(planes, d->h_out, ctx->rmax, d->nthreads);
            ctx->nbands = fc_div_up(d->h_out, ctx->band_rows);
            const int64_t last_rows = d->h_out - (ctx->nbands - 1) * ctx->band_rows;
            ctx->blocks[0] = fc_dw_balanced(ctx->band_rows, ctx->rmax);
            ctx->blocks[1] = fc_dw_balanced(last_rows, ctx->rmax);
            const int64_t last_v = vrow - (ctx->nchunks - 1) * ctx->chunk_v;
            ctx->tiles[0] = fc_dw_balanced(ctx->chunk_v, ctx->nv);
            ctx->tiles[1] = fc_dw_balanced(last_v, ctx->nv);
            ctx->pl = ctx->chunk_v * FC_VL + ctx->mmax;
            ctx->rl = d->stride_w * ctx->pl + FC_VL; /* + slack for whole-vector stores */
            for (int64_t s = 0; s < d->kw; s++)
                ctx->off[s] = (s * d->dil_w) % d->stride_w * ctx->pl + s * d->dil_w / d->stride_w;
            return 1;
        }
        if (ctx->rmax == 1) break;
    }
    return 0;
}

/* Tasks [begin, end) of the grid (image, channel, band, column chunk), the chunk fastest: the
 * first task's index is divided once and the rest counted, rather than dividing per task (the
 * tasks of 7x7 planes are a few hundred cycles). */
static void FC_DWFN(dw_rows_range)(void *arg, int64_t begin, int64_t end, int thread) {
    const FC_DWFN(dw_rows_ctx) *ctx = (const FC_DWFN(dw_rows_ctx) *)arg;
    const int64_t nc = ctx->nchunks, nb = ctx->nbands, c_out = ctx->d->c_out;
    int64_t jc = begin % nc, band = begin / nc % nb, k = begin / nc / nb % c_out;
    int64_t b = begin / nc / nb / c_out;
    (void)thread;
    for (int64_t task = begin; task < end; task++) {
        FC_DWFN(dw_rows_task)(ctx, b, k, band, jc);
        if (++jc == nc) {
            jc = 0;
            if (++band == nb) {
                band = 0;
                if (++k == c_out) k = 0, b++;
            }
        }
    }
}

static void FC_DWFN(dw_rows)(const FC_DWFN(dw_rows_ctx) *ctx) {
    const fc_conv2d_desc *d = ctx->d;
    const int64_t ntasks = d->n * d->c_out * ctx->nbands * ctx->nchunks;
    fc_parallel_for(d->nthreads, ntasks, fc_parallel_grain(ntasks, d->nthreads, 1),
                    FC_DWFN(dw_rows_range), (void *)ctx);
}

/* ---- channel path (NHWC) ------------------------------------------------------------------- */

typedef struct FC_DWFN(dw_chan_ctx) {
    const fc_conv2d_desc *d;
    const FC_T *x, *w, *bias;
    FC_T *y;
    int64_t nblocks;             /* channel blocks of FC_CV vectors */
    int64_t band_rows, nbands;
    int64_t j_lo, j_hi;          /* output columns whose taps all lie inside the row */
    /* packed channel path (below) only: */
    int packed;                  /* the tasks copy NCHW planes into [row][col][channel] */
    int64_t ncol;                /* columns of a packed row: all that the outputs read */
    fc_conv2d_desc pd;           /* d with the strides of the stack buffers (what tiles read) */
} FC_DWFN(dw_chan_ctx);

#define FC_CB (FC_CV * FC_VL) /* channels of a block */

/* P pixels (P compile-time) x CVc channel vectors at output column j of row pointer xr (x at the
 * tile's first input column, first channel), taps r in [r_lo, r_hi) and s in [s_lo, s_hi);
 * MASKED: the last vector holds `last` < VL channels. */
FC_DW_INLINE void FC_DWFN(dw_chan_ukernel)(const int P, const int CVc, const int MASKED,
                                            const FC_DWFN(dw_chan_ctx) *ctx, const FC_T *xr,
                                            const FC_T *wt, const FC_T *bvec, FC_T *yr,
                                            int64_t r_lo, int64_t r_hi, int64_t s_lo,
                                            int64_t s_hi, int64_t last) {
    const fc_conv2d_desc *d = ctx->d;
    const int64_t xs2dh = d->x_stride[2] * d->dil_h, xs3 = d->x_stride[3];
    const int64_t xs3dw = xs3 * d->dil_w, xs3sw = xs3 * d->stride_w, kw = d->kw;
    const FC_VMASK m = FC_VMASK_FIRST(MASKED ? last : FC_VL);
    FC_VEC acc[FC_P][FC_CV];
#pragma GCC unroll 16
    for (int p = 0; p < P; p++)
#pragma GCC unroll 4
        for (int v = 0; v < CVc; v++) acc[p][v] = FC_VLOAD(bvec + v * FC_VL);
    const FC_T *xrr = xr + r_lo * xs2dh;
    for (int64_t r = r_lo; r < r_hi; r++, xrr += xs2dh) {
        const FC_T *xs = xrr + s_lo * xs3dw;
        const FC_T *ws = wt + (r * kw + s_lo) * FC_CB;
        for (int64_t s = s_lo; s < s_hi; s++, xs += xs3dw, ws += FC_CB) {
            FC_VEC wv[FC_CV];
#pragma GCC unroll 4
            for (int v = 0; v < CVc; v++) wv[v] = FC_VLOAD(ws + v * FC_VL);
#pragma GCC unroll 16
            for (int p = 0; p < P; p++)
#pragma GCC unroll 4
                for (int v = 0; v < CVc; v++) {
                    const FC_T *src = xs + p * xs3sw + v * FC_VL;
                    const FC_VEC xv =
                        (MASKED && v == CVc - 1) ? FC_VLOAD_MASK(src, m) : FC_VLOAD(src);
                    acc[p][v] = FC_VFMA(wv[v], xv, acc[p][v]);
                }
        }
    }
    const int64_t ys3 = d->y_stride[3];
#pragma GCC unroll 16
    for (int p = 0; p < P; p++)
#pragma GCC unroll 4
        for (int v = 0; v < CVc; v++) {
            FC_T *dst = yr + p * ys3 + v * FC_VL;
            if (MASKED && v == CVc - 1)
                FC_VSTORE_MASK(dst, m, acc[p][v]);
            else
                FC_VSTORE(dst, acc[p][v]);
        }
}

#define FC_DW_CHAN_CASE(P, CVc, MASKED)                                                         \
    case ((P) > 1) * 16 + (CVc) * 2 + (MASKED):                                                 \
        FC_DWFN(dw_chan_ukernel)(P, CVc, MASKED, ctx, xr, wt, bvec, yr, r_lo, r_hi, s_lo, s_hi, \
                                 last);                                                         \
        return;
#define FC_DW_CHAN_CASES(CVc)                                                                   \
    FC_DW_CHAN_CASE(FC_P, CVc, 0) FC_DW_CHAN_CASE(FC_P, CVc, 1) FC_DW_CHAN_CASE(1, CVc, 0)      \
    FC_DW_CHAN_CASE(1, CVc, 1)
#if FC_CV > 4
#error "conv_depthwise_impl.h: FC_CV > 4 needs more cases"
#endif

static void FC_DWFN(dw_chan_run)(int wide, int cv, int masked, const FC_DWFN(dw_chan_ctx) *ctx,
                                 const FC_T *xr, const FC_T *wt, const FC_T *bvec, FC_T *yr,
                                 int64_t r_lo, int64_t r_hi, int64_t s_lo, int64_t s_hi,
                                 int64_t last) {
    switch (wide * 16 + cv * 2 + masked) {
        FC_DW_CHAN_CASES(1)
#if FC_CV >= 2
        FC_DW_CHAN_CASES(2)
#endif
#if FC_CV >= 3
        FC_DW_CHAN_CASES(3)
#endif
#if FC_CV >= 4
        FC_DW_CHAN_CASES(4)
#endif
    default:
        return; /* unreachable: 1 <= cv <= FC_CV */
    }
}

/* Weights of channels [c0, c0 + nch) as wt[r][s][channel] and their bias as bvec[channel],
 * channels nch..FC_CB-1 zero. */
static void FC_DWFN(dw_chan_weights)(const FC_DWFN(dw_chan_ctx) *ctx, int64_t c0, int64_t nch,
                                     FC_T *wt, FC_T *bvec) {
    const fc_conv2d_desc *d = ctx->d;
    for (int64_t r = 0; r < d->kh; r++)
        for (int64_t s = 0; s < d->kw; s++) {
            const FC_T *src = ctx->w + c0 * d->w_stride[0] + r * d->w_stride[2] +
                              s * d->w_stride[3];
            FC_T *dst = wt + (r * d->kw + s) * FC_CB;
            for (int64_t c = 0; c < FC_CB; c++) dst[c] = c < nch ? src[c * d->w_stride[0]] : 0;
        }
    for (int64_t c = 0; c < FC_CB; c++)
        bvec[c] = (ctx->bias && c < nch) ? ctx->bias[(c0 + c) * d->bias_stride] : (FC_T)0;
}

/* Output rows [ia, ib) of channel block cb of image b. */
static void FC_DWFN(dw_chan_task)(const FC_DWFN(dw_chan_ctx) *ctx, int64_t b, int64_t cb,
                                  int64_t ia, int64_t ib) {
    const fc_conv2d_desc *d = ctx->d;
    const int64_t kh = d->kh, kw = d->kw, c0 = cb * FC_CB;
    const int64_t nch = FC_MIN(FC_CB, d->c_out - c0);
    const int cv = (int)fc_div_up(nch, FC_VL);
    const int64_t last = nch - (cv - 1) * FC_VL;
    const int masked = last != FC_VL;

    FC_T wt[FC_DW_WMAX];
    FC_T bvec[FC_CB];
    FC_DWFN(dw_chan_weights)(ctx, c0, nch, wt, bvec);

    const FC_T *xb = ctx->x + b * d->x_stride[0] + c0;
    FC_T *yb = ctx->y + b * d->y_stride[0] + c0;
    const int64_t xs3 = d->x_stride[3], ys3 = d->y_stride[3];
    const int64_t sw = d->stride_w, dwl = d->dil_w, pl = d->pad_left;
    const int64_t j_lo = ctx->j_lo, j_hi = ctx->j_hi;
    for (int64_t i = ia; i < ib; i++) {
        const int64_t ih0 = i * d->stride_h - d->pad_top;
        int64_t r_lo, r_hi;
        fc_dw_valid_range(ih0, d->dil_h, d->h, kh, &r_lo, &r_hi);
        const FC_T *xrow = xb + ih0 * d->x_stride[2];
        FC_T *yrow = yb + i * d->y_stride[2];
        int64_t j = 0;
        while (j < d->w_out) {
            const int64_t iw0 = j * sw - pl;
            const FC_T *xr = xrow + iw0 * xs3;
            if (j >= j_lo && j + FC_P <= j_hi) {
                FC_DWFN(dw_chan_run)(1, cv, masked, ctx, xr, wt, bvec, yrow + j * ys3, r_lo,
                                     r_hi, 0, kw, last);
                j += FC_P;
            } else {
                int64_t s_lo, s_hi;
                fc_dw_valid_range(iw0, dwl, d->w, kw, &s_lo, &s_hi);
                FC_DWFN(dw_chan_run)(0, cv, masked, ctx, xr, wt, bvec, yrow + j * ys3, r_lo,
                                     r_hi, s_lo, s_hi, last);
                j += 1;
            }
        }
    }
}

static int FC_DWFN(dw_chan_plan)(FC_DWFN(dw_chan_ctx) *ctx) {
    const fc_conv2d_desc *d = ctx->d;
    if (d->c_out != d->c_in || d->x_stride[1] != 1 || d->y_stride[1] != 1) return 0;
    if (d->c_in < FC_VL || d->kh * d->kw * FC_CB > FC_DW_WMAX) return 0;
    ctx->nblocks = fc_div_up(d->c_out, FC_CB);
    ctx->band_rows = fc_dw_band_rows(d->n * ctx->nblocks, d->h_out, 1, d->nthreads);
    ctx->nbands = fc_div_up(d->h_out, ctx->band_rows);
    /* j*sw - pl >= 0 and j*sw - pl + (kw-1)*dil_w <= w - 1 */
    ctx->j_lo = FC_MIN(fc_dw_ceil_div(d->pad_left, d->stride_w), d->w_out);
    ctx->j_hi = fc_dw_clamp(
        fc_dw_floor_div(d->w - 1 - (d->kw - 1) * d->dil_w + d->pad_left, d->stride_w) + 1,
        ctx->j_lo, d->w_out);
    return 1;
}

/* ---- packed channel path (NCHW planes, vectorised along channels) ---------------------------
 * The row path vectorises along the output width: on small planes (MobileNet's and ShuffleNet's
 * 7x7 to 28x28, stride 2 above all) most lanes idle and each plane's set-up (packing its rows,
 * the ring) costs more than its few hundred FMAs. Here a task is a band of output rows of one
 * block of FC_CB channels: it copies the input rows the band reads into a stack buffer as
 * [row][col][channel] with the padding written as zeros, runs the channel path's tiles on it
 * (every pixel interior: the full-width tile everywhere, no tap ranges), and writes the band's
 * outputs, kept as [pixel][channel], back to the channel planes. Both copies move FC_VL x FC_VL
 * blocks through an in-register transpose (element by element they took 7x the FMAs' time on
 * 120 channels 28x28 stride 2). Weights are packed once per task as in the channel path. */

/* Input rows read by output rows [ia, ib): ((ib - ia) - 1) * stride_h + (kh - 1) * dil_h + 1. */
static int64_t FC_DWFN(dw_packed_rows)(const fc_conv2d_desc *d, int64_t out_rows) {
    return (out_rows - 1) * d->stride_h + (d->kh - 1) * d->dil_h + 1;
}

FC_NO_LIBCALLS static void FC_DWFN(dw_packed_task)(const FC_DWFN(dw_chan_ctx) *ctx, int64_t b,
                                                   int64_t cb, int64_t ia, int64_t ib) {
    const fc_conv2d_desc *d = ctx->d;
    const int64_t c0 = cb * FC_CB, nch = FC_MIN(FC_CB, d->c_out - c0);
    const int cv = (int)fc_div_up(nch, FC_VL);
    const int64_t last = nch - (cv - 1) * FC_VL;
    const int masked = last != FC_VL;
    FC_T wt[FC_DW_WMAX];
    FC_T bvec[FC_CB];
    FC_DWFN(dw_chan_weights)(ctx, c0, nch, wt, bvec);

    /* input rows ih0 .. ih0 + nr - 1, columns -pad_left .. -pad_left + ncol - 1 */
    FC_T xbuf[FC_DW_PACKMAX];
    FC_T ybuf[FC_DW_PACKMAX];
    const int64_t ncol = ctx->ncol, nr = FC_DWFN(dw_packed_rows)(d, ib - ia);
    const int64_t ih0 = ia * d->stride_h - d->pad_top;
    const int64_t col_lo = FC_MIN(d->pad_left, ncol), col_hi = FC_MAX(col_lo, FC_MIN(ncol, d->pad_left + d->w));
    const int64_t xs1 = d->x_stride[1], xs3 = d->x_stride[3];
    const FC_T *xb = ctx->x + b * d->x_stride[0] + c0 * xs1;
    for (int64_t r = 0; r < nr; r++) {
        FC_T *dst = xbuf + r * ncol * FC_CB;
        const int64_t ih = ih0 + r;
        if (ih < 0 || ih >= d->h) {
            FC_DWFN(dw_zero)(dst, ncol * FC_CB);
            continue;
        }
        FC_DWFN(dw_zero)(dst, col_lo * FC_CB);
        FC_DWFN(dw_zero)(dst + col_hi * FC_CB, (ncol - col_hi) * FC_CB);
        const FC_T *src = xb + ih * d->x_stride[2] + (col_lo - d->pad_left) * xs3;
        if (xs3 == 1) {
            /* runs of FC_VL columns of FC_VL channels, transposed in registers: vector q is then
             * column col + q's FC_VL channels (the channels past nch of the last block zeros) */
            for (int64_t ca = 0; ca < nch; ca += FC_VL) {
                const int64_t cn = FC_MIN((int64_t)FC_VL, nch - ca);
                for (int64_t col = col_lo; col < col_hi; col += FC_VL) {
                    const int64_t m = FC_MIN((int64_t)FC_VL, col_hi - col);
                    const FC_T *s = src + (col - col_lo) + ca * xs1;
                    FC_VEC v[FC_VL];
                    if (m == FC_VL) {
                        for (int64_t q = 0; q < cn; q++) v[q] = FC_VLOAD(s + q * xs1);
                    } else {
                        const FC_VMASK mask = FC_VMASK_FIRST(m);
                        for (int64_t q = 0; q < cn; q++) v[q] = FC_VLOAD_MASK(s + q * xs1, mask);
                    }
                    for (int64_t q = cn; q < FC_VL; q++) v[q] = FC_VZERO();
                    FC_VTRANSPOSE(v);
                    for (int64_t q = 0; q < m; q++) FC_VSTORE(dst + (col + q) * FC_CB + ca, v[q]);
                }
            }
            continue;
        }
        /* strided columns: 8 channels' rows at a time, 8 read streams */
        for (int64_t ca = 0; ca < nch; ca += 8) {
            const int64_t cn = FC_MIN((int64_t)8, nch - ca);
            for (int64_t col = col_lo; col < col_hi; col++)
                for (int64_t c = ca; c < ca + cn; c++)
                    dst[col * FC_CB + c] = src[(col - col_lo) * xs3 + c * xs1];
        }
    }

    FC_DWFN(dw_chan_ctx) packed_ctx = *ctx; /* its tiles read the buffers' strides */
    packed_ctx.d = &ctx->pd;
    const int64_t w_out = d->w_out, sw = d->stride_w, kh = d->kh, kw = d->kw;
    for (int64_t i = ia; i < ib; i++) {
        const FC_T *xrow = xbuf + (i - ia) * d->stride_h * ncol * FC_CB;
        FC_T *yrow = ybuf + (i - ia) * w_out * FC_CB;
        int64_t j = 0;
        for (; j + FC_P <= w_out; j += FC_P)
            FC_DWFN(dw_chan_run)(1, cv, masked, &packed_ctx, xrow + j * sw * FC_CB, wt, bvec,
                                 yrow + j * FC_CB, 0, kh, 0, kw, last);
        for (; j < w_out; j++)
            FC_DWFN(dw_chan_run)(0, cv, masked, &packed_ctx, xrow + j * sw * FC_CB, wt, bvec,
                                 yrow + j * FC_CB, 0, kh, 0, kw, last);
    }

    const int64_t ys1 = d->y_stride[1], ys2 = d->y_stride[2], ys3 = d->y_stride[3];
    FC_T *yb = ctx->y + b * d->y_stride[0] + c0 * ys1;
    if (ys3 == 1) {
        /* runs of FC_VL output columns of FC_VL channels, transposed in registers: vector l is
         * then channel ca + l's run */
        for (int64_t i = ia; i < ib; i++)
            for (int64_t j0 = 0; j0 < w_out; j0 += FC_VL) {
                const int64_t m = FC_MIN((int64_t)FC_VL, w_out - j0);
                const FC_T *src = ybuf + ((i - ia) * w_out + j0) * FC_CB;
                FC_T *dst = yb + i * ys2 + j0;
                for (int64_t ca = 0; ca < nch; ca += FC_VL) {
                    const int64_t cn = FC_MIN((int64_t)FC_VL, nch - ca);
                    FC_VEC v[FC_VL];
                    for (int64_t q = 0; q < m; q++) v[q] = FC_VLOAD(src + q * FC_CB + ca);
                    for (int64_t q = m; q < FC_VL; q++) v[q] = FC_VZERO();
                    FC_VTRANSPOSE(v);
                    if (m == FC_VL)
                        for (int64_t l = 0; l < cn; l++) FC_VSTORE(dst + (ca + l) * ys1, v[l]);
                    else
                        for (int64_t l = 0; l < cn; l++)
                            FC_DWFN(dw_store_first)(dst + (ca + l) * ys1, v[l], (int)m);
                }
            }
        return;
    }
    for (int64_t c = 0; c < nch; c++)
        for (int64_t i = ia; i < ib; i++) {
            FC_T *dst = yb + c * ys1 + i * ys2;
            const FC_T *src = ybuf + (i - ia) * w_out * FC_CB + c;
            for (int64_t j = 0; j < w_out; j++) dst[j * ys3] = src[j * FC_CB];
        }
}

/* Whether the packed channel path serves d, and its bands: output rows of at most one vector
 * (FC_VL columns), one output channel per input channel, at least one vector of channels; a
 * band's input and output must fit the stack buffers (FC_DW_PACKMAX elements each). Rows of
 * two vectors or more keep the row path, whose lanes they fill. Measured on Zen 4, float32,
 * MobileNet v2's and ShuffleNet's 3x3 layers, 1 and 2 threads: AVX-512 (16 lanes) 0.40-0.71x
 * the row path's time with 7 and 14 output columns, 1.1-1.25x with 28 (bands of one output
 * row there: the packed input rows outgrow the buffer); AVX2 (8 lanes) 0.41-0.69x with 7. */
static int FC_DWFN(dw_packed_plan)(FC_DWFN(dw_chan_ctx) *ctx) {
    const fc_conv2d_desc *d = ctx->d;
    if (d->c_out != d->c_in || d->c_in < FC_VL || d->w_out > FC_VL) return 0;
    if (d->kh * d->kw * FC_CB > FC_DW_WMAX) return 0;
    ctx->ncol = (d->w_out - 1) * d->stride_w + (d->kw - 1) * d->dil_w + 1;
    const int64_t row_elems = ctx->ncol * FC_CB;
    /* most output rows a band may have: input rows and output rows within the buffers */
    int64_t most = FC_DW_PACKMAX / (d->w_out * FC_CB);
    while (most >= 1 && FC_DWFN(dw_packed_rows)(d, most) * row_elems > FC_DW_PACKMAX) most--;
    if (most < 1) return 0;
    ctx->nblocks = fc_div_up(d->c_out, FC_CB);
    ctx->band_rows = FC_MIN(most, fc_dw_band_rows(d->n * ctx->nblocks, d->h_out, 1,
                                                   d->nthreads));
    ctx->nbands = fc_div_up(d->h_out, ctx->band_rows);
    ctx->pd = *d;
    ctx->pd.x_stride[1] = 1;
    ctx->pd.x_stride[2] = row_elems;
    ctx->pd.x_stride[3] = FC_CB;
    ctx->pd.y_stride[1] = 1;
    ctx->pd.y_stride[3] = FC_CB;
    ctx->packed = 1;
    return 1;
}

/* Tasks [begin, end) of the grid (image, channel block, band), the band fastest, counted from
 * the first one as in dw_rows_range. */
static void FC_DWFN(dw_chan_range)(void *arg, int64_t begin, int64_t end, int thread) {
    const FC_DWFN(dw_chan_ctx) *ctx = (const FC_DWFN(dw_chan_ctx) *)arg;
    const fc_conv2d_desc *d = ctx->d;
    const int64_t nb = ctx->nbands, ncb = ctx->nblocks;
    int64_t band = begin % nb, cb = begin / nb % ncb, b = begin / nb / ncb;
    (void)thread;
    for (int64_t task = begin; task < end; task++) {
        const int64_t ia = band * ctx->band_rows;
        const int64_t ib = FC_MIN(ia + ctx->band_rows, d->h_out);
        if (ctx->packed)
            FC_DWFN(dw_packed_task)(ctx, b, cb, ia, ib);
        else
            FC_DWFN(dw_chan_task)(ctx, b, cb, ia, ib);
        if (++band == nb) {
            band = 0;
            if (++cb == ncb) cb = 0, b++;
        }
    }
}

static void FC_DWFN(dw_chan)(const FC_DWFN(dw_chan_ctx) *ctx) {
    const fc_conv2d_desc *d = ctx->d;
    const int64_t ntasks = d->n * ctx->nblocks * ctx->nbands;
    fc_parallel_for(d->nthreads, ntasks, fc_parallel_grain(ntasks, d->nthreads, 1),
                    FC_DWFN(dw_chan_range), (void *)ctx);
}

/* ---- generic fallback ---------------------------------------------------------------------- */

/* The definition, with per-pixel tap ranges: for kernels or rows beyond the stack limits.
 * Planes [p0, p1) of n * c_out (fc_parallel_for's range; of the row path's ctx it reads only
 * the arguments and mult). */
static void FC_DWFN(dw_generic_range)(void *arg, int64_t p0, int64_t p1, int thread) {
    const FC_DWFN(dw_rows_ctx) *ctx = (const FC_DWFN(dw_rows_ctx) *)arg;
    const fc_conv2d_desc *d = ctx->d;
    const FC_T *const x = ctx->x, *const w = ctx->w, *const bias = ctx->bias;
    FC_T *const y = ctx->y;
    const int64_t mult = ctx->mult;
    (void)thread;
    for (int64_t plane = p0; plane < p1; plane++) {
        const int64_t b = plane / d->c_out, k = plane % d->c_out;
        const FC_T *xp = x + b * d->x_stride[0] + (k / mult) * d->x_stride[1];
        const FC_T *wk = w + k * d->w_stride[0];
        FC_T *yp = y + b * d->y_stride[0] + k * d->y_stride[1];
        for (int64_t i = 0; i < d->h_out; i++) {
            const int64_t ih0 = i * d->stride_h - d->pad_top;
            int64_t r_lo, r_hi;
            fc_dw_valid_range(ih0, d->dil_h, d->h, d->kh, &r_lo, &r_hi);
            for (int64_t j = 0; j < d->w_out; j++) {
                const int64_t iw0 = j * d->stride_w - d->pad_left;
                int64_t s_lo, s_hi;
                fc_dw_valid_range(iw0, d->dil_w, d->w, d->kw, &s_lo, &s_hi);
                FC_T acc = bias ? bias[k * d->bias_stride] : (FC_T)0;
                for (int64_t r = r_lo; r < r_hi; r++)
                    for (int64_t s = s_lo; s < s_hi; s++)
                        acc += wk[r * d->w_stride[2] + s * d->w_stride[3]] *
                               xp[(ih0 + r * d->dil_h) * d->x_stride[2] +
                                  (iw0 + s * d->dil_w) * d->x_stride[3]];
                yp[i * d->y_stride[2] + j * d->y_stride[3]] = acc;
            }
        }
    }
}

static void FC_DWFN(dw_generic)(const FC_DWFN(dw_rows_ctx) *ctx) {
    const int64_t planes = ctx->d->n * ctx->d->c_out;
    const int nt = ctx->d->nthreads;
    fc_parallel_for(nt, planes, fc_parallel_grain(planes, nt, 1), FC_DWFN(dw_generic_range),
                    (void *)ctx);
}

fc_status FC_DWFN(conv2d_depthwise)(const fc_conv2d_desc *d, const FC_T *x, const FC_T *w,
                                    const FC_T *bias, FC_T *y) {
    double t = FC_PROFILE_START(d);
    FC_DWFN(dw_chan_ctx) chan = {.d = d, .x = x, .w = w, .bias = bias, .y = y};
    FC_DWFN(dw_rows_ctx) rows = {d, x, w, bias, y, d->c_out / d->c_in, 0, 0, 0, 0, 0, 0, 0, 0,
                                 0, 0, 0, {0}};
    if (FC_DWFN(dw_chan_plan)(&chan) || FC_DWFN(dw_packed_plan)(&chan))
        FC_DWFN(dw_chan)(&chan);
    else if (FC_DWFN(dw_rows_plan)(&rows))
        FC_DWFN(dw_rows)(&rows);
    else
        FC_DWFN(dw_generic)(&rows);
    FC_PROFILE_ADD(d, multiply, t);
    return FC_OK;
}

#undef FC_CB
#undef FC_DW_CASE
#undef FC_DW_CASE3
#undef FC_DW_CASES3
#undef FC_DW_CASES3_HI
#undef FC_DW_CASES_1_4
#undef FC_DW_CASES_5_8
#undef FC_DW_CASES_9_12
#undef FC_DW_CASES_13_24
#undef FC_DW_CHAN_CASE
#undef FC_DW_CHAN_CASES
#undef FC_T
#undef FC_TNAME
#undef FC_VEC
#undef FC_VL
#undef FC_VMASK
#undef FC_VZERO
#undef FC_VSET1
#undef FC_VLOAD
#undef FC_VSTORE
#undef FC_VFMA
#undef FC_VMASK_FIRST
#undef FC_VLOAD_MASK
#undef FC_VSTORE_MASK
#undef FC_VTRANSPOSE
#undef FC_VDEINTERLEAVE
#undef FC_VSTORE_MASK_FAST
