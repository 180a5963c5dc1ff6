/* The direct convolution kernel, written once: a template that csrc/conv_direct_<isa>.c includes
 * once per element type, after defining the macros below. No include guard on purpose.
 *
 * The including file defines (and this file #undefs at its end, so the next inclusion starts
 * clean):
 *   FC_T                 element type (float, double)
 *   FC_TNAME             its name in symbols (f32, f64)
 *   FC_ISA               the ISA suffix of symbols (scalar, avx2, avx512); kept defined
 *   FC_KB, FC_NV         register tile: FC_KB output channels (power of two) x FC_NV vectors
 *   FC_VEC, FC_VL        vector type and its lanes (FC_VL = 1: plain scalars)
 *   FC_VMASK             lane mask type
 *   FC_VZERO()  FC_VSET1(s)  FC_VLOAD(p)  FC_VSTORE(p, v)      unaligned loads and stores
 *   FC_VFMA(a, b, c)     a * b + c
 *   FC_VMASK_RANGE(lo, hi)  mask of lanes t with lo <= t < hi (0 <= lo, hi <= FC_VL; empty if
 *                        hi <= lo)
 *   FC_VLOAD_MASK(p, m)  lanes outside m read as 0 and their memory is never touched (it may
 *                        lie outside the array)
 *   FC_VSTORE_MASK(p, m, v)  lanes outside m are not written
 *   FC_VSTORE_MASK_FAST  1 where a masked store costs about a plain one (AVX-512), else 0
 *   FC_VTRANSPOSE(r)     in-place FC_VL x FC_VL transpose of FC_VEC r[FC_VL]
 * and gets fc_<FC_TNAME>_conv2d_direct__<FC_ISA>() (prototype in conv_direct.h).
 *
 * Design (one thread task = one output row of a block of 2*FC_KB output channels of one image):
 *  - y[b, k0:k0+KB, i, j0:j0+nv*VL] (nv <= NV) is one register tile: for every input channel c
 *    of the group and every kernel tap (r, s), nv input vectors are loaded once and multiplied by
 *    KB broadcast weights (KB*nv FMAs per nv + KB loads); the tile is stored once at the end.
 *    A row narrower than two vectors (nv = 1: 7x7 images) takes the whole block of 2*KB
 *    channels in one tile instead, so enough independent FMAs hide the FMA latency.
 *  - Rows: the taps r whose input row ih = i*stride_h - pad_top + r*dil_h lies in [0, h) form a
 *    range [r_lo, r_hi) computed once per task, so top/bottom padding costs no branch at all.
 *  - Columns are cut into tiles of one of four modes, so the hot loop never tests an element:
 *      DIRECT  unit stride along w (x and stride_w) and every tap in range: plain vector loads
 *              straight from x. This is the interior of every NCHW convolution.
 *      MASKED  the same at the left/right borders and the ragged right end: masked loads read
 *              the padding as zeros (masks precomputed per tile, kw <= FC_DIRECT_KWMAX).
 *      PACKED  any other x stride along w (NHWC) or stride_w > 1: per (c, r) the tile's input
 *              span is gathered into a small stack buffer, split into stride_w phases so each tap
 *              reads contiguous lanes, with zeros where the input is padding.
 *      GENERIC scalar loops with per-column tap ranges: only when the packed buffer would not
 *              fit the stack (huge kernels/dilations/strides). Correct for every problem.
 *    A row of V vectors is cut into ceil(V / NV) tiles of balanced sizes (56 columns, 8 lanes:
 *    2 + 3 + 2 vectors, never a lone vector whose 4 accumulators would stall on FMA latency);
 *    a tile is DIRECT when all its columns are interior, else it takes the border mode.
 *  - Output: straight vector stores when y has unit stride along w and the tile is full, else
 *    through a stack tile (any y strides, ragged ends). Every y element is written, none read.
 *  - A channel remainder (c_out per group not a multiple of the block, depthwise) runs as
 *    power-of-two pieces (7 = 4 + 2 + 1), so each (kb, nv, mode) is one fully unrolled instance.
 *  - Threads: one fc_parallel_for over the tasks (image, output row, channel block, column
 *    chunk), rows or channel blocks innermost by a cache-traffic rule (see k_inner), in runs of
 *    consecutive tasks that the threads take as they come; column chunks appear only when the
 *    others give too few tasks (conv1d, tiny outputs). Batch 1 of a ResNet layer gives hundreds
 *    of equal tasks, so 2 threads split it evenly, and a thread that starts late leaves its
 *    runs to the other.
 * No heap allocation: the packed buffer (FC_DIRECT_BUFMAX elements) and masks live on the stack.
 *
 * Known limits, for the speed issue: the PACKED path repacks per (c, r) for every channel
 * piece, so stride-2 and NHWC problems run at a fraction of the DIRECT speed; weights are read
 * in place (strided broadcasts) rather than packed; no blocking of several output rows or of
 * the input channels for L1.
 */

#ifndef FC_DIRECT_TEMPLATE_HELPERS
#define FC_DIRECT_TEMPLATE_HELPERS

#define FC_DIRECT_CAT_(t, name, isa) fc_##t##_##name##__##isa
#define FC_DIRECT_CAT(t, name, isa) FC_DIRECT_CAT_(t, name, isa)
#define FC_DFN(name) FC_DIRECT_CAT(FC_TNAME, name, FC_ISA)

#define FC_ALWAYS_INLINE static inline __attribute__((always_inline))

enum { FC_DMODE_DIRECT = 0, FC_DMODE_MASKED = 1, FC_DMODE_PACKED = 2, FC_DMODE_GENERIC = 3 };

/* Floor and ceiling of a / b for any sign of a and b > 0. */
static inline int64_t fc_direct_floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}
static inline int64_t fc_direct_ceil_div(int64_t a, int64_t b) {
    return -fc_direct_floor_div(-a, b);
}
static inline int64_t fc_direct_clamp(int64_t v, int64_t lo, int64_t hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}
#endif /* FC_DIRECT_TEMPLATE_HELPERS */

#define FC_WT (FC_NV * FC_VL) /* output columns of a full tile */
#define FC_CB (2 * FC_KB)     /* output channels of a task; a one-vector tile takes them all */

/* What one microkernel call needs; filled by the task, read-only in the microkernel. */
typedef struct FC_DFN(direct_tile) {
    const FC_T *x;    /* x at (b, first input channel of the group, ih of r_lo, 0) */
    const FC_T *w;    /* w at (k, 0, r_lo, 0) for the tile's first output channel k */
    const FC_T *bias; /* bias at k, or NULL */
    FC_T *y;          /* y at (b, k, i, j0) */
    int64_t cg, nr, kw, dw;                   /* input channels, taps r in range, taps s */
    int64_t xs1, xs2dh, ws0, ws1, ws2, ws3;   /* xs2dh: x stride between taps r */
    int64_t bs, ys1, ys3;
    int64_t col0;       /* x column of tap 0 for the tile's first column: j0*stride_w - pad_left */
    int64_t ncols;      /* valid output columns (<= NVc * VL); the rest is computed, not stored */
    int store_direct;   /* y unit stride along w and ncols == NVc * VL */
    const FC_VMASK *masks; /* MASKED: [s * FC_NV + v] */
    /* PACKED: phases q < nq of the span, each pl long, at buf + q * pl; phase q, position m
     * holds x column col0 + q + m * stride_w; what lies inside x is copied per (c, r) (pk_*:
     * destination, source offset and count per phase), the rest stays 0 */
    FC_T *buf;
    int64_t nq, pl, sw, xstep; /* xstep = stride_w * x stride along w */
    int64_t dq, dm;            /* dil_w % stride_w, dil_w / stride_w */
    int64_t pk_dst[FC_DIRECT_NQMAX], pk_src[FC_DIRECT_NQMAX], pk_n[FC_DIRECT_NQMAX];
} FC_DFN(direct_tile);

/* The microkernel: y tile (KBc channels x NVc vectors) = bias + sum over c, r, s. KBc, NVc and
 * MODE are compile-time constants at every call site (always_inline), so acc[][] lives in
 * registers and every inner loop below is fully unrolled. */
FC_ALWAYS_INLINE void FC_DFN(direct_ukernel)(const int KBc, const int NVc, const int MODE,
                                             const FC_DFN(direct_tile) *restrict t) {
    FC_VEC acc[FC_CB][FC_NV];
#pragma GCC unroll 16
    for (int k = 0; k < KBc; k++) {
        const FC_VEC b0 = t->bias ? FC_VSET1(t->bias[k * t->bs]) : FC_VZERO();
#pragma GCC unroll 4
        for (int v = 0; v < NVc; v++) acc[k][v] = b0;
    }
    const int64_t cg = t->cg, nr = t->nr, kw = t->kw, dw = t->dw;
    const int64_t xs1 = t->xs1, xs2dh = t->xs2dh, ws0 = t->ws0, ws1 = t->ws1, ws2 = t->ws2,
                  ws3 = t->ws3;
    const FC_T *xc = t->x;
    const FC_T *wc = t->w;
    for (int64_t c = 0; c < cg; c++, xc += xs1, wc += ws1) {
        const FC_T *xr = xc;
        const FC_T *wr = wc;
        for (int64_t r = 0; r < nr; r++, xr += xs2dh, wr += ws2) {
            const FC_T *p = xr + t->col0;
            int64_t q = 0, m = 0;
            if (MODE == FC_DMODE_PACKED) {
                for (int64_t ph = 0; ph < t->nq; ph++) {
                    FC_T *restrict dst = t->buf + t->pk_dst[ph];
                    const FC_T *restrict src = xr + t->pk_src[ph];
                    const int64_t n = t->pk_n[ph], step = t->xstep;
                    if (step == 1) {
                        for (int64_t e = 0; e < n; e++) dst[e] = src[e];
                    } else {
                        for (int64_t e = 0; e < n; e++) dst[e] = src[e * step];
                    }
                }
            }
            const FC_T *ws = wr;
            for (int64_t s = 0; s < kw; s++, ws += ws3) {
                const FC_T *ps;
                if (MODE == FC_DMODE_PACKED) {
                    ps = t->buf + q * t->pl + m;
                    q += t->dq;
                    m += t->dm;
                    if (q >= t->sw) {
                        q -= t->sw;
                        m += 1;
                    }
                } else {
                    ps = p;
                    p += dw;
                }
                FC_VEC xv[FC_NV];
#pragma GCC unroll 4
                for (int v = 0; v < NVc; v++)
                    xv[v] = MODE == FC_DMODE_MASKED
                                ? FC_VLOAD_MASK(ps + v * FC_VL, t->masks[s * FC_NV + v])
                                : FC_VLOAD(ps + v * FC_VL);
#pragma GCC unroll 16
                for (int k = 0; k < KBc; k++) {
                    const FC_VEC wv = FC_VSET1(ws[k * ws0]);
#pragma GCC unroll 4
                    for (int v = 0; v < NVc; v++) acc[k][v] = FC_VFMA(wv, xv[v], acc[k][v]);
                }
            }
        }
    }
    if (t->store_direct) {
#pragma GCC unroll 16
        for (int k = 0; k < KBc; k++)
#pragma GCC unroll 4
            for (int v = 0; v < NVc; v++) FC_VSTORE(t->y + k * t->ys1 + v * FC_VL, acc[k][v]);
    } else {
        FC_T tmp[FC_CB * FC_WT];
#pragma GCC unroll 16
        for (int k = 0; k < KBc; k++)
#pragma GCC unroll 4
            for (int v = 0; v < NVc; v++) FC_VSTORE(tmp + k * FC_WT + v * FC_VL, acc[k][v]);
        const int64_t nc = FC_MIN(t->ncols, (int64_t)NVc * FC_VL);
        for (int k = 0; k < KBc; k++)
            for (int64_t j = 0; j < nc; j++) t->y[k * t->ys1 + j * t->ys3] = tmp[k * FC_WT + j];
    }
}

/* One instance per (kb, nv) of a mode, selected by a jump table. */
#define FC_UK_CASE(KBc, NVc, M)                                                                   \
    case (KBc) * 8 + (NVc):                                                                       \
        FC_DFN(direct_ukernel)(KBc, NVc, M, t);                                                   \
        return;
#if FC_NV >= 2
#define FC_UK_CASE_NV2(KBc, M) FC_UK_CASE(KBc, 2, M)
#else
#define FC_UK_CASE_NV2(KBc, M)
#endif
#if FC_NV >= 3
#define FC_UK_CASE_NV3(KBc, M) FC_UK_CASE(KBc, 3, M)
#else
#define FC_UK_CASE_NV3(KBc, M)
#endif
#if FC_NV >= 4
#define FC_UK_CASE_NV4(KBc, M) FC_UK_CASE(KBc, 4, M)
#else
#define FC_UK_CASE_NV4(KBc, M)
#endif
#if FC_NV > 4
#error "conv_direct_impl.h: FC_NV > 4 needs more cases"
#endif
#define FC_UK_CASES_KB(KBc, M)                                                                    \
    FC_UK_CASE(KBc, 1, M) FC_UK_CASE_NV2(KBc, M) FC_UK_CASE_NV3(KBc, M) FC_UK_CASE_NV4(KBc, M)
#if FC_KB >= 2
#define FC_UK_CASES_KB2(M) FC_UK_CASES_KB(2, M)
#else
#define FC_UK_CASES_KB2(M)
#endif
#if FC_KB >= 4
#define FC_UK_CASES_KB4(M) FC_UK_CASES_KB(4, M)
#else
#define FC_UK_CASES_KB4(M)
#endif
#if FC_KB >= 8
#define FC_UK_CASES_KB8(M) FC_UK_CASES_KB(8, M)
#else
#define FC_UK_CASES_KB8(M)
#endif
#if FC_KB > 8 || (FC_KB & (FC_KB - 1)) != 0
#error "conv_direct_impl.h: FC_KB must be 1, 2, 4 or 8"
#endif
#define FC_UK_DEFINE_RUN(M, name)                                                                 \
    static void FC_DFN(name)(int kb, int nv, const FC_DFN(direct_tile) * t) {                     \
        switch (kb * 8 + nv) {                                                                    \
            FC_UK_CASES_KB(1, M)                                                                  \
            FC_UK_CASES_KB2(M)                                                                    \
            FC_UK_CASES_KB4(M)                                                                    \
            FC_UK_CASES_KB8(M)                                                                    \
            FC_UK_CASE(FC_CB, 1, M)                                                               \
        default:                                                                                  \
            return; /* unreachable: kb a power of two <= KB (CB when nv = 1), 1 <= nv <= NV */   \
        }                                                                                         \
    }
FC_UK_DEFINE_RUN(FC_DMODE_DIRECT, direct_run_direct)
FC_UK_DEFINE_RUN(FC_DMODE_MASKED, direct_run_masked)
FC_UK_DEFINE_RUN(FC_DMODE_PACKED, direct_run_packed)

/* Everything the tasks share, computed once per call. */
typedef struct FC_DFN(direct_ctx) {
    const fc_conv2d_desc *d;
    const FC_T *x, *w, *bias;
    FC_T *y;
    int64_t cg, kg, nkb_g, nkb; /* channels per group in/out, channel blocks per group / total */
    int64_t nj, jchunk;         /* column chunks per row and their width */
    int64_t jA, jB;             /* DIRECT may take columns in [jA, jB) (empty: never) */
    int border_mode;            /* mode of the other tiles */
    int64_t nq, dq, dm;         /* PACKED: phases, dil_w % stride_w, dil_w / stride_w */
    int k_inner;                /* task order: channel blocks inside rows (else rows inside) */
} FC_DFN(direct_ctx);

/* GENERIC: kb output channels x ncols columns, scalar, per-column tap ranges. Slow, general. */
static void FC_DFN(direct_generic)(const FC_DFN(direct_ctx) * ctx, int64_t kb,
                                   const FC_DFN(direct_tile) * t, int64_t j0) {
    const fc_conv2d_desc *d = ctx->d;
    for (int64_t k = 0; k < kb; k++) {
        for (int64_t jj = 0; jj < t->ncols; jj++) {
            const int64_t base = (j0 + jj) * d->stride_w - d->pad_left;
            const int64_t s_lo = FC_MAX(0, fc_direct_ceil_div(-base, d->dil_w));
            const int64_t s_hi = FC_MIN(d->kw, fc_direct_floor_div(d->w - 1 - base, d->dil_w) + 1);
            FC_T acc = t->bias ? t->bias[k * t->bs] : (FC_T)0;
            for (int64_t c = 0; c < t->cg; c++)
                for (int64_t r = 0; r < t->nr; r++) {
                    const FC_T *xr = t->x + c * t->xs1 + r * t->xs2dh;
                    const FC_T *wr = t->w + k * t->ws0 + c * t->ws1 + r * t->ws2;
                    for (int64_t s = s_lo; s < s_hi; s++)
                        acc += wr[s * t->ws3] * xr[(base + s * d->dil_w) * d->x_stride[3]];
                }
            t->y[k * t->ys1 + jj * t->ys3] = acc;
        }
    }
}

/* One task: output row i, channel block kbi, columns [ja, je) of image b. */
static void FC_DFN(direct_task)(const FC_DFN(direct_ctx) * ctx, int64_t b, int64_t kbi,
                                int64_t i, int64_t ja, int64_t je) {
    const fc_conv2d_desc *d = ctx->d;
    const int64_t g = kbi / ctx->nkb_g;
    const int64_t kk = (kbi % ctx->nkb_g) * FC_CB;
    const int64_t k0 = g * ctx->kg + kk;
    const int64_t kbn = FC_MIN((int64_t)FC_CB, ctx->kg - kk);

    const int64_t ih0 = i * d->stride_h - d->pad_top;
    const int64_t r_lo = FC_MAX(0, fc_direct_ceil_div(-ih0, d->dil_h));
    const int64_t r_hi = FC_MAX(r_lo, FC_MIN(d->kh, fc_direct_floor_div(d->h - 1 - ih0, d->dil_h) + 1));

    FC_DFN(direct_tile) t;
    t.x = ctx->x + b * d->x_stride[0] + g * ctx->cg * d->x_stride[1] +
          (ih0 + r_lo * d->dil_h) * d->x_stride[2];
    t.cg = ctx->cg;
    t.nr = r_hi - r_lo;
    t.kw = d->kw;
    t.dw = d->dil_w;
    t.xs1 = d->x_stride[1];
    t.xs2dh = d->x_stride[2] * d->dil_h;
    t.ws0 = d->w_stride[0];
    t.ws1 = d->w_stride[1];
    t.ws2 = d->w_stride[2];
    t.ws3 = d->w_stride[3];
    t.bs = d->bias_stride;
    t.ys1 = d->y_stride[1];
    t.ys3 = d->y_stride[3];
    t.sw = d->stride_w;
    t.dq = ctx->dq;
    t.dm = ctx->dm;
    t.nq = ctx->nq;
    t.pl = 0;
    t.xstep = d->stride_w * d->x_stride[3];
    FC_T *const yrow = ctx->y + b * d->y_stride[0] + i * d->y_stride[2];
    const FC_T *const wblk = ctx->w + r_lo * d->w_stride[2];

    FC_VMASK masks[FC_DIRECT_KWMAX * FC_NV];
    FC_T buf[FC_DIRECT_BUFMAX];
    t.masks = masks;
    t.buf = buf;

    /* Balanced tiles: nvec vectors in ntile tiles of nv_base or nv_base + 1 vectors (<= NV);
     * tiles 1 .. extra are the wider ones, so the left border tile is a narrow one. */
    const int64_t nvec = (je - ja + FC_VL - 1) / FC_VL;
    const int64_t ntile = (nvec + FC_NV - 1) / FC_NV;
    const int64_t nv_base = nvec / ntile, extra = nvec % ntile;
    int64_t j0 = ja;
    for (int64_t tile = 0; tile < ntile; tile++) {
        const int64_t nv = nv_base + (tile >= 1 && tile <= extra);
        const int64_t end = FC_MIN(j0 + nv * FC_VL, je);
        const int mode = j0 >= ctx->jA && j0 + nv * FC_VL <= ctx->jB && end == j0 + nv * FC_VL
                             ? FC_DMODE_DIRECT
                             : ctx->border_mode;
        t.ncols = end - j0;
        t.store_direct = d->y_stride[3] == 1 && t.ncols == nv * FC_VL;
        t.col0 = j0 * d->stride_w - d->pad_left;
        if (mode == FC_DMODE_MASKED) {
            for (int64_t s = 0; s < d->kw; s++)
                for (int64_t v = 0; v < nv; v++) {
                    const int64_t base = t.col0 + v * FC_VL + s * d->dil_w;
                    const int lo = (int)fc_direct_clamp(-base, 0, FC_VL);
                    const int hi = (int)fc_direct_clamp(d->w - base, 0, FC_VL);
                    masks[s * FC_NV + v] = FC_VMASK_RANGE(lo, hi);
                }
        } else if (mode == FC_DMODE_PACKED) {
            t.pl = nv * FC_VL + ((d->kw - 1) * d->dil_w) / d->stride_w;
            for (int64_t q = 0; q < t.nq; q++) {
                const int64_t base = t.col0 + q;
                const int64_t mlo = fc_direct_clamp(fc_direct_ceil_div(-base, d->stride_w), 0, t.pl);
                const int64_t mhi = fc_direct_clamp(
                    fc_direct_floor_div(d->w - 1 - base, d->stride_w) + 1, mlo, t.pl);
                t.pk_dst[q] = q * t.pl + mlo;
                t.pk_src[q] = (base + mlo * d->stride_w) * d->x_stride[3];
                t.pk_n[q] = mhi - mlo;
            }
            for (int64_t e = 0; e < t.nq * t.pl; e++) buf[e] = 0;
        }
        /* The channel block as power-of-two pieces: of KB, or of 2*KB for one-vector tiles. */
        for (int64_t koff = 0, piece = nv == 1 ? FC_CB : FC_KB; koff < kbn; koff += piece) {
            while (piece > kbn - koff) piece /= 2;
            const int64_t k = k0 + koff;
            t.w = wblk + k * d->w_stride[0];
            t.bias = ctx->bias ? ctx->bias + k * d->bias_stride : NULL;
            t.y = yrow + k * d->y_stride[1] + j0 * d->y_stride[3];
            switch (mode) {
            case FC_DMODE_DIRECT: FC_DFN(direct_run_direct)((int)piece, (int)nv, &t); break;
            case FC_DMODE_MASKED: FC_DFN(direct_run_masked)((int)piece, (int)nv, &t); break;
            case FC_DMODE_PACKED: FC_DFN(direct_run_packed)((int)piece, (int)nv, &t); break;
            default: FC_DFN(direct_generic)(ctx, piece, &t, j0); break;
            }
        }
        j0 = end;
    }
}

/* Tasks [begin, end) in the order of conv2d_direct's task grid (fc_parallel_for's range). */
static void FC_DFN(direct_tasks)(void *arg, int64_t begin, int64_t end, int thread) {
    const FC_DFN(direct_ctx) *ctx = (const FC_DFN(direct_ctx) *)arg;
    const fc_conv2d_desc *d = ctx->d;
    (void)thread;
    for (int64_t task = begin; task < end; task++) {
        int64_t rest = task;
        const int64_t jc = rest % ctx->nj;
        rest /= ctx->nj;
        int64_t i, kbi;
        if (ctx->k_inner) {
            kbi = rest % ctx->nkb;
            rest /= ctx->nkb;
            i = rest % d->h_out;
            rest /= d->h_out;
        } else {
            i = rest % d->h_out;
            rest /= d->h_out;
            kbi = rest % ctx->nkb;
            rest /= ctx->nkb;
        }
        const int64_t b = rest;
        const int64_t ja = jc * ctx->jchunk;
        FC_DFN(direct_task)(ctx, b, kbi, i, ja, FC_MIN(ja + ctx->jchunk, d->w_out));
    }
}

fc_status FC_DFN(conv2d_direct)(const fc_conv2d_desc *d, const FC_T *x, const FC_T *w,
                                const FC_T *bias, FC_T *y) {
    FC_DFN(direct_ctx) ctx;
    ctx.d = d;
    ctx.x = x;
    ctx.w = w;
    ctx.bias = bias;
    ctx.y = y;
    ctx.cg = d->c_in / d->groups;
    ctx.kg = d->c_out / d->groups;
    ctx.nkb_g = (ctx.kg + FC_CB - 1) / FC_CB;
    ctx.nkb = d->groups * ctx.nkb_g;

    /* Column modes. */
    const int64_t span = (d->kw - 1) * d->dil_w; /* input columns one output column spans - 1 */
    ctx.nq = FC_MIN(d->stride_w, span + 1);
    ctx.dq = d->dil_w % d->stride_w;
    ctx.dm = d->dil_w / d->stride_w;
    const int packed_ok = ctx.nq <= FC_DIRECT_NQMAX &&
                          ctx.nq * (FC_WT + span / d->stride_w) <= FC_DIRECT_BUFMAX;
    ctx.jA = ctx.jB = 0;
    if (d->stride_w == 1 && d->x_stride[3] == 1) {
        /* Columns [jA, jB) read only inside x at every tap. */
        ctx.jA = d->pad_left;
        ctx.jB = d->w - span + d->pad_left;
        ctx.border_mode = d->kw <= FC_DIRECT_KWMAX ? FC_DMODE_MASKED
                          : packed_ok              ? FC_DMODE_PACKED
                                                   : FC_DMODE_GENERIC;
    } else {
        ctx.border_mode = packed_ok ? FC_DMODE_PACKED : FC_DMODE_GENERIC;
    }

    /* Tasks: (image, output row, channel block, column chunk) or (image, channel block, output
     * row, column chunk), see k_inner below. Rows and channel blocks usually
     * give every thread many tasks; when they do not (conv1d, small outputs), rows are also cut
     * into chunks of whole tiles. */
    const int64_t units = d->n * ctx.nkb * d->h_out;
    const int64_t want = 4 * (int64_t)d->nthreads;
    ctx.nj = 1;
    ctx.jchunk = d->w_out;
    if (d->nthreads > 1 && units < want) {
        const int64_t tiles = (d->w_out + FC_WT - 1) / FC_WT;
        const int64_t nj = FC_MIN(tiles, (want + units - 1) / units);
        ctx.jchunk = (tiles + nj - 1) / nj * FC_WT;
        ctx.nj = (d->w_out + ctx.jchunk - 1) / ctx.jchunk;
    }
    const int64_t ntasks = units * ctx.nj;
    /* Order of a thread's consecutive tasks. Channel blocks innermost re-read one row's input
     * rows from cache and stream all weights of the group once per output row; rows innermost
     * keep one block's weights in cache and stream the whole input once per channel block.
     * Pick the smaller stream: h_out * (kg*cg*kh*kw) against nkb_g * (cg*h*w). (Measured on
     * ResNet-50 layers, Zen 4 AVX2: 1x1 and 56x56 layers want channels inner, 7x7x512 rows.) */
    ctx.k_inner = (double)d->h_out * (double)(ctx.kg * d->kh * d->kw) <
                  (double)ctx.nkb_g * (double)(d->h * d->w);
    /* Chunks of consecutive tasks (big first, smaller towards the end): a chunk keeps the
     * order above (its tasks share input rows or weights in cache), and a thread that starts
     * late finds the chunks it would have run taken by the others. */
    fc_parallel_for(d->nthreads, ntasks, fc_parallel_grain(ntasks, d->nthreads, 1),
                    FC_DFN(direct_tasks), &ctx);
    return FC_OK;
}


/* ==== The channel-blocked kernel (fc_*_conv2d_direct_blocked) ===============================
 *
 * For dense problems (at least one vector of output channels per group) the kernel above,
 * vectorised along w, loads a weight broadcast per FMA row and re-reads strided weights per
 * tile; this one follows Zhang, Franchetti and Low (ICML 2018) and oneDNN's blocked kernels:
 *  - vectorise over output channels: a register tile of BKB vectors (FC_OB = BKB*VL output
 *    channels) x BNW output pixels; per input channel and tap, BKB weight vectors are loaded
 *    once and each pixel's input value is broadcast once (BKB + BNW loads for BKB*BNW FMAs);
 *  - weights re-laid out as [g][oc block][r][s][c][FC_OB] (zeros past c_out per group), so
 *    the hot loop reads them as one contiguous stream: into the workspace per call, or once
 *    for many calls (conv2d_direct_blocked_pack, then _apply: a plan's weights);
 *  - input packed once per call into the workspace as [b][g][row][col][c] with the padding
 *    written as zeros, rows/cols only as far as some output reads: every stride, dilation,
 *    padding and layout (NCHW, NHWC, views) becomes one address pattern with no border at all,
 *    and an input pixel's channels are contiguous for the broadcasts;
 *  - output pixels are flattened over (i, j), so a 7x7 image is 49 pixels in tiles of BNW
 *    rather than rows of 7, and conv1d is one long row; every pixel carries its own input
 *    pointer (the last tile of an image repeats its last pixel, computed but not stored);
 *  - Threads: tasks are (image, chunk of pixel tiles, output channel block), block fastest,
 *    taken dynamically by fc_parallel_for (a shared 2-core machine): a task's weights stay in
 *    L1/L2 across its tiles, and a chunk's input rows in L2 across the blocks that follow it.
 * The workspace size is fc_*_conv2d_direct_blocked_workspace_size; 0 means "not this kernel". */

#define FC_OB (FC_BKB * FC_VL) /* output channels of a block */
#define FC_WS_ALIGN 64

typedef struct FC_DFN(blocked_geom) {
    int64_t cg, kg, nocb;  /* input / output channels per group, output channel blocks per group */
    int64_t hp, wp;        /* rows and columns of the packed input (padding included) */
    int64_t n_w, n_b, n_x; /* elements of packed weights, bias, input */
} FC_DFN(blocked_geom);

static int FC_DFN(blocked_geometry)(const fc_conv2d_desc *d, FC_DFN(blocked_geom) * g) {
    g->cg = d->c_in / d->groups;
    g->kg = d->c_out / d->groups;
    /* Fewer output channels per group than a vector (depthwise, tiny groups) would leave most
     * lanes idle: that is the w-vectorised kernel's case. */
    if (g->kg < FC_VL) return 0;
    g->nocb = (g->kg + FC_OB - 1) / FC_OB;
    g->hp = (d->h_out - 1) * d->stride_h + (d->kh - 1) * d->dil_h + 1;
    g->wp = (d->w_out - 1) * d->stride_w + (d->kw - 1) * d->dil_w + 1;
    g->n_w = d->groups * g->nocb * d->kh * d->kw * g->cg * FC_OB;
    g->n_b = d->groups * g->nocb * FC_OB;
    g->n_x = d->n * d->groups * g->hp * g->wp * g->cg;
    return 1;
}

/* One call of the blocked kernel, as fc_parallel_for's context for its three loops (weight
 * packing, input packing, the multiply); each uses the fields it needs. */
typedef struct FC_DFN(blocked_call) {
    const fc_conv2d_desc *d;
    const FC_DFN(blocked_geom) * g;
    const FC_T *x, *w, *bias;
    FC_T *y;
    FC_T *wp, *bp, *xp;         /* packed weights, bias and input in the workspace */
    int64_t npix, nblk;         /* output pixels per image, output channel blocks in all */
    int64_t chunk, nchunk;      /* pixel tiles per chunk, chunks per image */
} FC_DFN(blocked_call);

static size_t FC_DFN(blocked_bytes)(int64_t n) {
    return ((size_t)n * sizeof(FC_T) + FC_WS_ALIGN - 1) / FC_WS_ALIGN * FC_WS_ALIGN;
}

/* The workspace of the one-call form holds packed weights, bias and input; the form with
 * weights packed beforehand (conv2d_direct_blocked_pack / _apply) needs bias and input only. */
size_t FC_DFN(conv2d_direct_blocked_workspace_size)(const fc_conv2d_desc *d) {
    FC_DFN(blocked_geom) g;
    if (!FC_DFN(blocked_geometry)(d, &g)) return 0;
    return FC_DFN(blocked_bytes)(g.n_w) + FC_DFN(blocked_bytes)(g.n_b) +
           FC_DFN(blocked_bytes)(g.n_x) + FC_WS_ALIGN;
}

size_t FC_DFN(conv2d_direct_blocked_packed_bytes)(const fc_conv2d_desc *d) {
    FC_DFN(blocked_geom) g;
    return FC_DFN(blocked_geometry)(d, &g) ? FC_DFN(blocked_bytes)(g.n_w) : 0;
}

size_t FC_DFN(conv2d_direct_blocked_apply_workspace_size)(const fc_conv2d_desc *d) {
    FC_DFN(blocked_geom) g;
    if (!FC_DFN(blocked_geometry)(d, &g)) return 0;
    return FC_DFN(blocked_bytes)(g.n_b) + FC_DFN(blocked_bytes)(g.n_x) + FC_WS_ALIGN;
}

/* y tile = bias + sum over r, s, c of w[r][s][c][0:KBc*VL] * x_pixel[r*rstep + s*sstep + c],
 * stored as out[jj * FC_OB + lane] (KBc vectors per pixel). KBc is a compile-time constant at
 * every call site, so acc[][] lives in registers and the v / jj loops are unrolled. */
FC_ALWAYS_INLINE void FC_DFN(blocked_ukernel)(const int KBc, const FC_T *const *restrict xpix,
                                              const FC_T *restrict w, const FC_T *restrict bias,
                                              int64_t kh, int64_t kw, int64_t cg, int64_t rstep,
                                              int64_t sstep, FC_T *restrict out) {
    FC_VEC acc[FC_BKB][FC_BNW];
#pragma GCC unroll 8
    for (int v = 0; v < KBc; v++) {
        const FC_VEC b0 = FC_VLOAD(bias + v * FC_VL);
#pragma GCC unroll 16
        for (int jj = 0; jj < FC_BNW; jj++) acc[v][jj] = b0;
    }
    const FC_T *p[FC_BNW];
#pragma GCC unroll 16
    for (int jj = 0; jj < FC_BNW; jj++) p[jj] = xpix[jj];
    for (int64_t r = 0; r < kh; r++) {
        for (int64_t s = 0; s < kw; s++) {
            const int64_t off = r * rstep + s * sstep;
            for (int64_t c = off; c < off + cg; c++, w += FC_OB) {
                FC_VEC wv[FC_BKB];
#pragma GCC unroll 8
                for (int v = 0; v < KBc; v++) wv[v] = FC_VLOAD(w + v * FC_VL);
#pragma GCC unroll 16
                for (int jj = 0; jj < FC_BNW; jj++) {
                    const FC_VEC xb = FC_VSET1(p[jj][c]);
#pragma GCC unroll 8
                    for (int v = 0; v < KBc; v++) acc[v][jj] = FC_VFMA(wv[v], xb, acc[v][jj]);
                }
            }
        }
    }
#pragma GCC unroll 16
    for (int jj = 0; jj < FC_BNW; jj++)
#pragma GCC unroll 8
        for (int v = 0; v < KBc; v++) FC_VSTORE(out + jj * FC_OB + v * FC_VL, acc[v][jj]);
}

#define FC_BUK_CASE(KBc)                                                                          \
    case KBc:                                                                                     \
        FC_DFN(blocked_ukernel)(KBc, xpix, w, bias, kh, kw, cg, rstep, sstep, out);               \
        return;
static void FC_DFN(blocked_run)(int kb, const FC_T *const *xpix, const FC_T *w, const FC_T *bias,
                                int64_t kh, int64_t kw, int64_t cg, int64_t rstep, int64_t sstep,
                                FC_T *out) {
    switch (kb) {
        FC_BUK_CASE(1)
#if FC_BKB >= 2
        FC_BUK_CASE(2)
#endif
#if FC_BKB >= 3
        FC_BUK_CASE(3)
#endif
#if FC_BKB >= 4
        FC_BUK_CASE(4)
#endif
#if FC_BKB > 4
#error "conv_direct_impl.h: FC_BKB > 4 needs more cases"
#endif
    default: return; /* unreachable: 1 <= kb <= FC_BKB */
    }
}
#undef FC_BUK_CASE

/* Weights -> [g][ocb][r][s][c][FC_OB], zeros past kg: blocks [blk0, blk1) of call->nblk. */
static void FC_DFN(blocked_pack_weights)(void *arg, int64_t blk0, int64_t blk1, int thread) {
    const FC_DFN(blocked_call) *call = (const FC_DFN(blocked_call) *)arg;
    const fc_conv2d_desc *d = call->d;
    const FC_DFN(blocked_geom) *g = call->g;
    const FC_T *const w = call->w;
    FC_T *const wp = call->wp;
    const int64_t per_blk = d->kh * d->kw * g->cg * FC_OB;
    (void)thread;
    for (int64_t blk = blk0; blk < blk1; blk++) {
        const int64_t k0 = (blk / g->nocb) * g->kg + (blk % g->nocb) * FC_OB;
        const int64_t kn = FC_MIN((int64_t)FC_OB, g->kg - (blk % g->nocb) * FC_OB);
        FC_T *const dst = wp + blk * per_blk;
        const FC_T *const src = w + k0 * d->w_stride[0];
        const int64_t ws0 = d->w_stride[0], ws1 = d->w_stride[1], ws2 = d->w_stride[2],
                      ws3 = d->w_stride[3];
        /* Source order (c, r, s) outside, the block's output channels inside: each step
         * writes one whole FC_OB run, kh*kw write streams advance together, and the kn source
         * filters are read in order (OIHW). Writing one output channel at a time instead
         * (a partial line per store, 16 passes over the block) cost 4 ms on res5's 9.4 MB. */
        for (int64_t c = 0; c < g->cg; c++)
            for (int64_t r = 0; r < d->kh; r++)
                for (int64_t s = 0; s < d->kw; s++) {
                    FC_T *const run = dst + ((r * d->kw + s) * g->cg + c) * FC_OB;
                    const FC_T *const from = src + c * ws1 + r * ws2 + s * ws3;
                    for (int64_t o = 0; o < kn; o++) run[o] = from[o * ws0];
                }
        if (kn < FC_OB)
            for (int64_t e = 0; e < per_blk; e += FC_OB)
                for (int64_t o = kn; o < FC_OB; o++) dst[e + o] = 0;
    }
}

/* bias -> [g][ocb][FC_OB], zeros past kg and everywhere when bias is NULL (c_out elements:
 * one thread). */
static void FC_DFN(blocked_pack_bias)(const FC_DFN(blocked_call) *call) {
    const fc_conv2d_desc *d = call->d;
    const FC_DFN(blocked_geom) *g = call->g;
    for (int64_t blk = 0; blk < d->groups * g->nocb; blk++) {
        const int64_t k0 = (blk / g->nocb) * g->kg + (blk % g->nocb) * FC_OB;
        const int64_t kn = FC_MIN((int64_t)FC_OB, g->kg - (blk % g->nocb) * FC_OB);
        for (int64_t o = 0; o < FC_OB; o++)
            call->bp[blk * FC_OB + o] =
                call->bias && o < kn ? call->bias[(k0 + o) * d->bias_stride] : (FC_T)0;
    }
}

/* Input -> [b][g][hp][wp][cg]: packed row ph, column pw hold x[b, g*cg + c, ph - pad_top,
 * pw - pad_left], zero outside x. Every element is written. Packed rows [row0, row1) of
 * n * groups * hp. */
static void FC_DFN(blocked_pack_input)(void *arg, int64_t row0, int64_t row1, int thread) {
    const FC_DFN(blocked_call) *call = (const FC_DFN(blocked_call) *)arg;
    const fc_conv2d_desc *d = call->d;
    const FC_DFN(blocked_geom) *g = call->g;
    const FC_T *const x = call->x;
    FC_T *const xp = call->xp;
    const int64_t cg = g->cg, wp = g->wp;
    const int64_t xs1 = d->x_stride[1], xs3 = d->x_stride[3];
    /* Columns [pw_lo, pw_hi) lie inside x. */
    const int64_t pw_lo = FC_MIN(d->pad_left, wp), pw_hi = FC_MAX(pw_lo, FC_MIN(wp, d->pad_left + d->w));
    const int channels_inner = (xs1 < 0 ? -xs1 : xs1) <= (xs3 < 0 ? -xs3 : xs3);
    (void)thread;
    for (int64_t row = row0; row < row1; row++) {
        const int64_t ph = row % g->hp, bg = row / g->hp;
        const int64_t b = bg / d->groups, grp = bg % d->groups;
        const int64_t ih = ph - d->pad_top;
        FC_T *dst = xp + row * wp * cg;
        if (ih < 0 || ih >= d->h) {
            for (int64_t e = 0; e < wp * cg; e++) dst[e] = 0;
            continue;
        }
        for (int64_t e = 0; e < pw_lo * cg; e++) dst[e] = 0;
        for (int64_t e = pw_hi * cg; e < wp * cg; e++) dst[e] = 0;
        const FC_T *src = x + b * d->x_stride[0] + grp * cg * xs1 + ih * d->x_stride[2] +
                          (pw_lo - d->pad_left) * xs3;
        FC_T *drow = dst + pw_lo * cg;
        const int64_t ncol = pw_hi - pw_lo;
        if (channels_inner) { /* NHWC-like source: both sides walk channels fastest */
            for (int64_t col = 0; col < ncol; col++)
                for (int64_t c = 0; c < cg; c++) drow[col * cg + c] = src[col * xs3 + c * xs1];
        } else { /* NCHW-like: 8 channels' rows at a time, read as 8 streams, written in runs
                  * of 8 (one channel at a time wrote with stride cg: 3 GB/s on res2) */
            for (int64_t c0 = 0; c0 < cg; c0 += 8) {
                const int64_t cn = FC_MIN((int64_t)8, cg - c0);
                for (int64_t col = 0; col < ncol; col++)
                    for (int64_t c = c0; c < c0 + cn; c++) drow[col * cg + c] = src[col * xs3 + c * xs1];
            }
        }
    }
}

/* dst[0, n) = lanes t < n of v (0 < n <= FC_VL). */
FC_ALWAYS_INLINE void FC_DFN(store_first)(FC_T *dst, FC_VEC v, int64_t n) {
    if (n == FC_VL) {
        FC_VSTORE(dst, v);
        return;
    }
#if FC_VSTORE_MASK_FAST
    FC_VSTORE_MASK(dst, FC_VMASK_RANGE(0, n), v);
#else
    FC_T tmp[FC_VL];
    FC_VSTORE(tmp, v);
    for (int64_t t = 0; t < n; t++) dst[t] = tmp[t];
#endif
}

/* A tile's outputs out[pixel][channel] (np pixels, kn channels) into channel planes (y unit
 * stride along w; pixel jj at yblk + yoff[jj], channel o plane_stride apart): runs of up to
 * FC_VL pixels adjacent in y go through FC_VL x FC_VL transposes, one vector store per channel
 * and run instead of one scalar store per element (those cost more than the multiply-adds of
 * a layer with few input channels: a stem, a grouped 1x1). */
FC_ALWAYS_INLINE void FC_DFN(blocked_store_planes)(const FC_T *out, int64_t np, int64_t kn,
                                                   const int64_t *yoff, FC_T *yblk,
                                                   int64_t plane_stride) {
    for (int64_t jj0 = 0; jj0 < np;) {
        int64_t m = 1;
        while (m < FC_VL && jj0 + m < np && yoff[jj0 + m] == yoff[jj0] + m) m++;
        for (int64_t o0 = 0; o0 < kn; o0 += FC_VL) {
            const int64_t cn = FC_MIN((int64_t)FC_VL, kn - o0);
            FC_VEC v[FC_VL];
            for (int64_t q = 0; q < m; q++) v[q] = FC_VLOAD(out + (jj0 + q) * FC_OB + o0);
            for (int64_t q = m; q < FC_VL; q++) v[q] = FC_VZERO();
            FC_VTRANSPOSE(v);
            for (int64_t l = 0; l < cn; l++)
                FC_DFN(store_first)(yblk + (o0 + l) * plane_stride + yoff[jj0], v[l], m);
        }
        jj0 += m;
    }
}

/* Tasks [begin, end) of the multiply: task = (image, chunk of pixel tiles, output channel
 * block), the block fastest (see conv2d_direct_blocked). */
static void FC_DFN(blocked_tasks)(void *arg, int64_t begin, int64_t end, int thread) {
    const FC_DFN(blocked_call) *call = (const FC_DFN(blocked_call) *)arg;
    const fc_conv2d_desc *d = call->d;
    const FC_DFN(blocked_geom) *g = call->g;
    const FC_T *const xp = call->xp, *const wp = call->wp, *const bp = call->bp;
    FC_T *const y = call->y;
    const int64_t npix = call->npix, nblk = call->nblk, chunk = call->chunk,
                  nchunk = call->nchunk;
    const int64_t kh = d->kh, kw = d->kw, cg = g->cg;
    const int64_t rstep = d->dil_h * g->wp * cg, sstep = d->dil_w * cg;
    const int64_t per_blk = kh * kw * cg * FC_OB;
    (void)thread;
    for (int64_t task = begin; task < end; task++) {
        const int64_t blk = task % nblk, ch = task / nblk % nchunk, b = task / nblk / nchunk;
        const int64_t p_lo = ch * chunk * FC_BNW, p_hi = FC_MIN(npix, (ch + 1) * chunk * FC_BNW);
        FC_T out[FC_BNW * FC_OB];
        const FC_T *xpix[FC_BNW];
        int64_t yoff[FC_BNW];
        const int64_t grp = blk / g->nocb, ocb = blk % g->nocb;
        const FC_T *ximg = xp + (b * d->groups + grp) * g->hp * g->wp * cg;
        const int64_t k0 = grp * g->kg + ocb * FC_OB;
        const int64_t kn = FC_MIN((int64_t)FC_OB, g->kg - ocb * FC_OB);
        const int kb = (int)((kn + FC_VL - 1) / FC_VL);
        FC_T *const yblk = y + b * d->y_stride[0] + k0 * d->y_stride[1];
        for (int64_t p0 = p_lo; p0 < p_hi; p0 += FC_BNW) {
            const int64_t np = FC_MIN((int64_t)FC_BNW, p_hi - p0);
            int64_t i = p0 / d->w_out, j = p0 % d->w_out;
            for (int64_t jj = 0; jj < np; jj++) {
                xpix[jj] = ximg + (i * d->stride_h * g->wp + j * d->stride_w) * cg;
                yoff[jj] = i * d->y_stride[2] + j * d->y_stride[3];
                if (++j == d->w_out) {
                    j = 0;
                    i++;
                }
            }
            for (int64_t jj = np; jj < FC_BNW; jj++) xpix[jj] = xpix[np - 1];
            FC_DFN(blocked_run)(kb, xpix, wp + blk * per_blk, bp + blk * FC_OB, kh, kw,
                                cg, rstep, sstep, out);
            if (d->y_stride[1] == 1 && kn == FC_OB) { /* channels-last y */
                for (int64_t jj = 0; jj < np; jj++)
                    for (int64_t o = 0; o < FC_OB; o++) yblk[yoff[jj] + o] = out[jj * FC_OB + o];
            } else if (d->y_stride[3] == 1) {
                FC_DFN(blocked_store_planes)(out, np, kn, yoff, yblk, d->y_stride[1]);
            } else {
                for (int64_t o = 0; o < kn; o++)
                    for (int64_t jj = 0; jj < np; jj++)
                        yblk[o * d->y_stride[1] + yoff[jj]] = out[jj * FC_OB + o];
            }
        }
    }
}

static void *FC_DFN(blocked_align)(void *p) {
    return (char *)p + (FC_WS_ALIGN - (uintptr_t)p % FC_WS_ALIGN) % FC_WS_ALIGN;
}

/* Weights -> wp (n_w elements, FC_WS_ALIGN-aligned), in parallel. */
static void FC_DFN(blocked_pack_all)(const fc_conv2d_desc *d, const FC_DFN(blocked_geom) * g,
                                     const FC_T *w, FC_T *wp) {
    double t = FC_PROFILE_START(d);
    FC_DFN(blocked_call) call = {d, g, NULL, w, NULL, NULL, wp, NULL, NULL, 0, 0, 0, 0};
    /* blocks in chunks of about a quarter of a thread's share, so a thread that starts late
     * leaves its part to the others */
    const int64_t nblk = d->groups * g->nocb;
    fc_parallel_for(d->nthreads, nblk, fc_parallel_grain(nblk, d->nthreads, 1),
                    FC_DFN(blocked_pack_weights), &call);
    FC_PROFILE_ADD(d, kernel_transform, t);
}

/* Bias and input packing and the multiply, with the weights already packed in wp; bp and xp
 * in the workspace. */
static void FC_DFN(blocked_multiply)(const fc_conv2d_desc *d, const FC_DFN(blocked_geom) * g,
                                     const FC_T *wp, const FC_T *x, const FC_T *bias, FC_T *y,
                                     FC_T *bp, FC_T *xp) {
    double t = FC_PROFILE_START(d);
    FC_DFN(blocked_call) call = {d, g, x, NULL, bias, y, (FC_T *)wp, bp, xp, 0, 0, 0, 0};
    const int nt = d->nthreads;
    const int64_t nblk = d->groups * g->nocb, nrows = d->n * d->groups * g->hp;
    FC_DFN(blocked_pack_bias)(&call);
    fc_parallel_for(nt, nrows, fc_parallel_grain(nrows, nt, 1), FC_DFN(blocked_pack_input),
                    &call);
    FC_PROFILE_ADD(d, input_transform, t);

    /* Tasks: (image, chunk of pixel tiles, output channel block), the block fastest. A chunk's
     * input (about FC_DIRECT_CHUNK_BYTES) stays in L2 across the blocks, and a block's weights
     * across the chunk's tiles: a 7x7 image is one chunk, so each block's weights (res5: 295
     * KB) come from memory once, not once per tile. Chunks shrink when the tasks would number
     * fewer than 4 per thread. */
    const int64_t npix = d->h_out * d->w_out;
    const int64_t ntile = (npix + FC_BNW - 1) / FC_BNW;
    const double row_bytes = (double)d->stride_h * (double)(g->wp * g->cg * sizeof(FC_T));
    const int64_t rows = (int64_t)fc_direct_clamp((int64_t)(FC_DIRECT_CHUNK_BYTES / row_bytes), 1,
                                                  d->h_out);
    int64_t chunk = FC_MAX((int64_t)1, (rows * d->w_out + FC_BNW - 1) / FC_BNW);
    const int64_t want = 4 * (int64_t)nt;
    if (d->n * nblk * ((ntile + chunk - 1) / chunk) < want) {
        const int64_t per_img = (want + d->n * nblk - 1) / (d->n * nblk);
        chunk = FC_MAX((int64_t)1, (ntile + per_img - 1) / per_img);
    }
    const int64_t nchunk = (ntile + chunk - 1) / chunk;
    const int64_t ntasks = d->n * nchunk * nblk;
    call.npix = npix;
    call.nblk = nblk;
    call.chunk = chunk;
    call.nchunk = nchunk;
    /* one task per claim: the tasks are sized above to number at least 4 per thread */
    fc_parallel_for(nt, ntasks, 1, FC_DFN(blocked_tasks), &call);
    FC_PROFILE_ADD(d, multiply, t);
}

fc_status FC_DFN(conv2d_direct_blocked)(const fc_conv2d_desc *d, const FC_T *x, const FC_T *w,
                                        const FC_T *bias, FC_T *y, void *workspace,
                                        size_t workspace_bytes) {
    const double t_total = FC_PROFILE_START(d);
    FC_DFN(blocked_geom) g;
    if (!FC_DFN(blocked_geometry)(d, &g)) return FC_ERR_UNSUPPORTED;
    if (workspace_bytes < FC_DFN(conv2d_direct_blocked_workspace_size)(d) || !workspace)
        return FC_ERR_WORKSPACE_TOO_SMALL;
    char *const ws = (char *)FC_DFN(blocked_align)(workspace);
    FC_T *const wp = (FC_T *)ws;
    FC_T *const bp = (FC_T *)(ws + FC_DFN(blocked_bytes)(g.n_w));
    FC_T *const xp = (FC_T *)(ws + FC_DFN(blocked_bytes)(g.n_w) + FC_DFN(blocked_bytes)(g.n_b));
    FC_DFN(blocked_pack_all)(d, &g, w, wp);
    FC_DFN(blocked_multiply)(d, &g, wp, x, bias, y, bp, xp);
    if (d->profile) {
        d->profile->total += fc_now() - t_total;
        d->profile->calls += 1;
    }
    return FC_OK;
}

fc_status FC_DFN(conv2d_direct_blocked_pack)(const fc_conv2d_desc *d, const FC_T *w,
                                             FC_T *packed) {
    FC_DFN(blocked_geom) g;
    if (!FC_DFN(blocked_geometry)(d, &g)) return FC_ERR_UNSUPPORTED;
    FC_DFN(blocked_pack_all)(d, &g, w, packed);
    return FC_OK;
}

fc_status FC_DFN(conv2d_direct_blocked_apply)(const fc_conv2d_desc *d, const FC_T *packed,
                                              const FC_T *x, const FC_T *bias, FC_T *y,
                                              void *workspace, size_t workspace_bytes) {
    const double t_total = FC_PROFILE_START(d);
    FC_DFN(blocked_geom) g;
    if (!FC_DFN(blocked_geometry)(d, &g)) return FC_ERR_UNSUPPORTED;
    if (workspace_bytes < FC_DFN(conv2d_direct_blocked_apply_workspace_size)(d) || !workspace)
        return FC_ERR_WORKSPACE_TOO_SMALL;
    char *const ws = (char *)FC_DFN(blocked_align)(workspace);
    FC_T *const bp = (FC_T *)ws;
    FC_T *const xp = (FC_T *)(ws + FC_DFN(blocked_bytes)(g.n_b));
    FC_DFN(blocked_multiply)(d, &g, packed, x, bias, y, bp, xp);
    if (d->profile) {
        d->profile->total += fc_now() - t_total;
        d->profile->calls += 1;
    }
    return FC_OK;
}

#undef FC_OB
#undef FC_WS_ALIGN

#undef FC_WT
#undef FC_CB
#undef FC_UK_CASE
#undef FC_UK_CASE_NV2
#undef FC_UK_CASE_NV3
#undef FC_UK_CASE_NV4
#undef FC_UK_CASES_KB
#undef FC_UK_CASES_KB2
#undef FC_UK_CASES_KB4
#undef FC_UK_CASES_KB8
#undef FC_UK_DEFINE_RUN
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
#undef FC_VMASK_RANGE
#undef FC_VLOAD_MASK
#undef FC_VSTORE_MASK
#undef FC_VSTORE_MASK_FAST
#undef FC_VTRANSPOSE
