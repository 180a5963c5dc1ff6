/* im2col convolution for one dtype; included by im2col.c once per dtype (no include guard).
 * The includer defines IM_T (element type), IM_P (prefix token f32 / f64) and IM_OP (the
 * fc_<P>_gemm_op type); this file undefines them. */
#define IM_CAT_(a, b) a##b
#define IM_CAT(a, b) IM_CAT_(a, b)
#define IM_FN(name) IM_CAT(IM_CAT(fc_, IM_P), IM_CAT(_, name))
#define IM_SN(name) IM_CAT(IM_P, IM_CAT(_, name))

/* Row (c, r, s) of the patch matrix for output rows [q0, q1) (q = image * h_out + row) of
 * the channels of one group (x points at the group's first channel) into
 * out[(q - q0) * w_out + j]. Zero where the window leaves the image.
 * When consecutive output rows read consecutive input rows that lie w_out elements apart
 * (stride 1 and x's row stride == w_out: every "same" stride-1 convolution of a contiguous
 * NCHW image), the rows of one image form one contiguous run of x: it is copied in one piece
 * and the columns that fell outside the image are zeroed afterwards. The elements so read
 * past a row's end lie between two elements of x (never outside it). Per-row copies cost a
 * memcpy call and the edge loops for every w_out elements: 3-5x the copy itself for 7..28. */
static void IM_SN(lower_row)(IM_T *restrict out, const fc_conv2d_desc *d, const IM_T *x,
                             const int64_t crs[3], int64_t q0, int64_t q1) {
    const int64_t ho = d->h_out, wo = d->w_out, h = d->h;
    const int64_t xs0 = d->x_stride[0], xs1 = d->x_stride[1], xs2 = d->x_stride[2],
                  xs3 = d->x_stride[3];
    const int64_t c = crs[0], r = crs[1], s = crs[2];
    /* Columns j whose input column j * stride_w + off lies in [0, w). */
    const int64_t off = s * d->dil_w - d->pad_left;
    int64_t j_lo = off >= 0 ? 0 : fc_div_up(-off, d->stride_w);
    int64_t j_hi = d->w - 1 - off < 0 ? 0 : (d->w - 1 - off) / d->stride_w + 1;
    j_lo = FC_MIN(j_lo, wo);
    j_hi = FC_MAX(j_lo, FC_MIN(j_hi, wo));
    if (j_lo == j_hi) { /* the tap misses every column */
        memset(out, 0, (size_t)((q1 - q0) * wo) * sizeof(IM_T));
        return;
    }
    const int runs = d->stride_h == 1 && d->stride_w == 1 && xs3 == 1 && xs2 == wo;
    int64_t b = q0 / ho, i = q0 % ho; /* image and output row of q, stepped along */
    for (int64_t q = q0; q < q1;) {
        const int64_t ii = i * d->stride_h + r * d->dil_h - d->pad_top;
        int64_t nrows = 1;
        if (ii < 0 || ii >= h) {
            memset(out, 0, (size_t)wo * sizeof(IM_T));
        } else if (runs) {
            /* rows q .. q + nrows - 1: same image, input rows ii .. inside the image */
            nrows = FC_MIN(q1 - q, FC_MIN(ho - i, h - ii));
            const IM_T *xr = x + b * xs0 + c * xs1 + ii * xs2 + off;
            memcpy(out + j_lo, xr + j_lo, (size_t)((nrows - 1) * wo + j_hi - j_lo) *
                                              sizeof(IM_T));
            for (int64_t t = 0; t < nrows; t++) {
                IM_T *o = out + t * wo;
                for (int64_t j = 0; j < j_lo; j++) o[j] = 0;
                for (int64_t j = j_hi; j < wo; j++) o[j] = 0;
            }
        } else {
            const IM_T *xr = x + b * xs0 + c * xs1 + ii * xs2;
            for (int64_t j = 0; j < j_lo; j++) out[j] = 0;
            if (d->stride_w == 1 && xs3 == 1) {
                memcpy(out + j_lo, xr + j_lo + off, (size_t)(j_hi - j_lo) * sizeof(IM_T));
            } else {
                const int64_t step = d->stride_w * xs3;
                const IM_T *xp = xr + off * xs3;
                if (step == 2) /* stride 2, the common case: a literal step vectorises */
                    for (int64_t j = j_lo; j < j_hi; j++) out[j] = xp[j * 2];
                else
                    for (int64_t j = j_lo; j < j_hi; j++) out[j] = xp[j * step];
            }
            for (int64_t j = j_hi; j < wo; j++) out[j] = 0;
        }
        q += nrows, out += nrows * wo, i += nrows;
        if (i == ho) b++, i = 0;
    }
}

/* One lowering, as fc_parallel_for's context: the arguments of lower, lower_packed and
 * lower_panels (each uses its own). */
typedef struct {
    IM_T *dst, *rows;
    const fc_conv2d_desc *d;
    const IM_T *x;
    const fc_kaxes *ka;
    const int64_t *tapoff;
    const int32_t *tapidx;
    int64_t K, q0, q1, KC, NR;
    int narrow_t;
} IM_SN(lowering);

/* Threads for a lowering of `elements` elements (below FC_LOWER_PAR_MIN, one). */
static int IM_SN(lower_threads)(const fc_conv2d_desc *d, int64_t elements) {
    return elements >= FC_LOWER_PAR_MIN ? FC_MAX(1, d->nthreads) : 1;
}

/* Rows [k0, k1) of the plain lowered matrix: row kk at dst + kk * ld, ld = (q1 - q0) * w_out. */
static void IM_SN(lower_rows)(void *arg, int64_t k0, int64_t k1, int tid) {
    const IM_SN(lowering) *lw = (const IM_SN(lowering) *)arg;
    const int64_t ld = (lw->q1 - lw->q0) * lw->d->w_out;
    fc_kstep st;
    (void)tid;
    kstep_init(lw->ka, k0, &st);
    for (int64_t kk = k0; kk < k1; kk++) {
        if (kk > k0) kstep_next(lw->ka, &st);
        IM_SN(lower_row)(lw->dst + kk * ld, lw->d, lw->x, st.crs, lw->q0, lw->q1);
    }
}

static void IM_SN(lower)(IM_T *restrict dst, const fc_conv2d_desc *d, const IM_T *x,
                         const fc_kaxes *ka, int64_t K, int64_t q0, int64_t q1) {
    IM_SN(lowering) lw = {dst, NULL, d, x, ka, NULL, NULL, K, q0, q1, 0, 0, 0};
    const int nt = IM_SN(lower_threads)(d, K * (q1 - q0) * d->w_out);
    fc_parallel_for(nt, K, fc_parallel_grain(K, nt, 1), IM_SN(lower_rows), &lw);
}

/* The lowered block straight in the GEMM's packed-B layout (gemm_internal.h, b_packed): row
 * kk is gathered into a per-thread scratch row (lower_row: contiguous copies), then cut into
 * the NR-wide panels of its K block with whole-panel copies (NR is a literal here, so they
 * compile to a few vector moves). The GEMM then packs nothing: the block is written once, in
 * the order the microkernel reads it. Row kk's (c, r, s) and place in its K block are stepped
 * from the previous row's (no divisions per row). */
static inline __attribute__((always_inline)) void IM_SN(lower_packed_nr)(
    const IM_SN(lowering) *lw, int64_t k0, int64_t k1, int tid, const int64_t NR) {
    const fc_conv2d_desc *d = lw->d;
    const int64_t K = lw->K, KC = lw->KC, q0 = lw->q0, q1 = lw->q1;
    const int narrow_t = lw->narrow_t;
    IM_T *restrict dst = lw->dst;
    const int64_t ncols = (q1 - q0) * d->w_out, np = fc_div_up(ncols, NR), n_pad = np * NR;
    const int64_t full = narrow_t ? np - 1 : np, last = ncols - (np - 1) * NR;
    IM_T *row = lw->rows + (int64_t)tid * n_pad;
    for (int64_t c = ncols; c < n_pad; c++) row[c] = 0;
    fc_kstep st;
    kstep_init(lw->ka, k0, &st);
    int64_t pc = k0 / KC * KC, kc = FC_MIN(KC, K - pc), p = k0 - pc;
    for (int64_t kk = k0; kk < k1; kk++) {
        if (kk > k0) {
            kstep_next(lw->ka, &st);
            if (++p == kc) pc += KC, kc = FC_MIN(KC, K - pc), p = 0;
        }
        IM_SN(lower_row)(row, d, lw->x, st.crs, q0, q1);
        IM_T *blk = dst + pc * n_pad + p * NR;
        for (int64_t q = 0; q < full; q++) {
            IM_T *to = blk + q * NR * kc;
            const IM_T *from = row + q * NR;
            for (int64_t c = 0; c < NR; c++) to[c] = from[c];
        }
        if (narrow_t) { /* transposed last panel for the dot kernel: (p, c) at c kc + p */
            IM_T *to = dst + pc * n_pad + (np - 1) * NR * kc + p;
            for (int64_t c = 0; c < last; c++) to[c * kc] = row[(np - 1) * NR + c];
        }
    }
}

/* The packed block panel by panel, for stride-1 lowering with x's row stride == w_out (the
 * "runs" case of lower_row: in one image, consecutive columns of the patch matrix read
 * consecutive elements of x for every tap). Each NR-column panel is written front to back,
 * row kk after row kk - 1, straight from x: where all NR columns of a tap lie inside the image
 * that is one NR-wide copy; where some fall into the padding, a copy under a lane mask that
 * depends only on (r, s), so it is set up once per panel. Row-major lowering (lower_row, then
 * cut into panels) wrote one cache line into each of the block's panels per row, panels
 * KC * NR elements apart (a multiple of 4 KiB: every line of a row in the same L1 set); the
 * panel copies were 60% of the lowering time on 64@56. */
static inline __attribute__((always_inline)) void IM_SN(lower_panels_nr)(
    const IM_SN(lowering) *lw, int64_t qa, int64_t qb, const int64_t NR) {
    const fc_conv2d_desc *d = lw->d;
    const IM_T *x = lw->x;
    const int64_t *tapoff = lw->tapoff;
    const int32_t *tapidx = lw->tapidx;
    const int64_t K = lw->K, KC = lw->KC, q0 = lw->q0, q1 = lw->q1;
    const int narrow_t = lw->narrow_t;
    IM_T *restrict dst = lw->dst;
    const int64_t ho = d->h_out, wo = d->w_out, h = d->h, w = d->w, kw = d->kw;
    const int64_t xs0 = d->x_stride[0]; /* and x_stride[2] == w_out, x_stride[3] == 1 */
    const int64_t ncols = (q1 - q0) * wo, np = fc_div_up(ncols, NR), n_pad = np * NR;
    const int64_t plane = (h - 1) * wo + w; /* elements spanned by one channel of one image */
    for (int64_t q = qa; q < qb; q++) {
        /* Lane l (column q NR + l): its image's offset and its element offset for a tap at
         * (0, 0, 0) with no padding; lanes past the last column stay zero. */
        int64_t img[FC_IM2COL_MAX_NR], base[FC_IM2COL_MAX_NR];
        int64_t row0[FC_IM2COL_MAX_NR], col0[FC_IM2COL_MAX_NR];
        IM_MT mask[FC_IM2COL_MAX_TAPS * FC_IM2COL_MAX_NR];
        unsigned char cls[FC_IM2COL_MAX_TAPS]; /* per tap (r, s): 0 no lane, 1 some, 2 all */
        int64_t shift[FC_IM2COL_MAX_TAPS];     /* per tap: the (r, s) part of its x offset */
        const int64_t lanes = FC_MIN(NR, ncols - q * NR);
        const int narrow = narrow_t && q == np - 1;
        int contig = lanes == NR; /* the lanes are NR consecutive elements of one image */
        for (int64_t l = 0; l < NR; l++) {
            const int64_t col = q * NR + FC_MIN(l, lanes - 1), qq = q0 + col / wo;
            const int64_t i = qq % ho, j = col % wo;
            img[l] = qq / ho * xs0;
            base[l] = img[l] + i * wo + j;
            row0[l] = i - d->pad_top;
            col0[l] = j - d->pad_left;
            if (base[l] != base[0] + l || img[l] != img[0]) contig = 0;
        }
        for (int64_t r = 0; r < d->kh; r++)
            for (int64_t s = 0; s < kw; s++) {
                IM_MT *m = mask + (r * kw + s) * NR;
                int64_t valid = 0;
                for (int64_t l = 0; l < NR; l++) {
                    const int64_t ii = row0[l] + r * d->dil_h, jj = col0[l] + s * d->dil_w;
                    const int in = l < lanes && ii >= 0 && ii < h && jj >= 0 && jj < w;
                    m[l] = in ? (IM_MT)-1 : 0;
                    valid += in;
                }
                cls[r * kw + s] = valid == 0 ? 0 : valid == NR ? 2 : 1;
                shift[r * kw + s] = (r * d->dil_h - d->pad_top) * wo + s * d->dil_w - d->pad_left;
            }
        for (int64_t pc = 0; pc < K; pc += KC) {
            const int64_t kc = FC_MIN(KC, K - pc);
            IM_T *pan = dst + pc * n_pad + q * NR * kc;
            for (int64_t p = 0; p < kc; p++) {
                const int64_t tap = tapoff[pc + p], t = tapidx[pc + p];
                const IM_MT *m = mask + t * NR;
                if (narrow) { /* transposed last panel for the dot kernel: (p, l) at l kc + p */
                    for (int64_t l = 0; l < lanes; l++)
                        pan[l * kc + p] = m[l] ? x[base[l] + tap] : (IM_T)0;
                    continue;
                }
                IM_T *to = pan + p * NR;
                /* this channel's plane: tap's offset less its (r, s) part */
                const int64_t o = base[0] + tap, lo = img[0] + tap - shift[t];
                if (cls[t] == 0) {
                    for (int64_t l = 0; l < NR; l++) to[l] = 0;
                } else if (contig && cls[t] == 2) {
                    const IM_T *xo = x + o;
                    for (int64_t l = 0; l < NR; l++) to[l] = xo[l];
                } else if (contig && o >= lo && o + NR <= lo + plane) {
                    /* every lane reads inside this channel's plane: load all, keep the valid */
                    const IM_T *xo = x + o;
                    for (int64_t l = 0; l < NR; l++) {
                        const IM_T v = xo[l];
                        to[l] = m[l] ? v : (IM_T)0;
                    }
                } else {
                    for (int64_t l = 0; l < NR; l++) to[l] = m[l] ? x[base[l] + tap] : (IM_T)0;
                }
            }
        }
    }
}

static void IM_SN(lower_panel_range)(void *arg, int64_t qa, int64_t qb, int tid) {
    const IM_SN(lowering) *lw = (const IM_SN(lowering) *)arg;
    (void)tid;
    switch (lw->NR) {
    case 8: IM_SN(lower_panels_nr)(lw, qa, qb, 8); break;
    case 16: IM_SN(lower_panels_nr)(lw, qa, qb, 16); break;
    case 32: IM_SN(lower_panels_nr)(lw, qa, qb, 32); break;
    default: IM_SN(lower_panels_nr)(lw, qa, qb, lw->NR); break;
    }
}

static void IM_SN(lower_panels)(IM_T *restrict dst, const fc_conv2d_desc *d, const IM_T *x,
                                const int64_t *tapoff, const int32_t *tapidx, int64_t K,
                                int64_t q0, int64_t q1, int64_t KC, int64_t NR, int narrow_t) {
    IM_SN(lowering) lw = {dst, NULL, d, x, NULL, tapoff, tapidx, K, q0, q1, KC, NR, narrow_t};
    const int64_t ncols = (q1 - q0) * d->w_out, np = fc_div_up(ncols, NR);
    const int nt = IM_SN(lower_threads)(d, K * ncols);
    fc_parallel_for(nt, np, fc_parallel_grain(np, nt, 1), IM_SN(lower_panel_range), &lw);
}

static void IM_SN(lower_packed_range)(void *arg, int64_t k0, int64_t k1, int tid) {
    const IM_SN(lowering) *lw = (const IM_SN(lowering) *)arg;
    switch (lw->NR) {
    case 8: IM_SN(lower_packed_nr)(lw, k0, k1, tid, 8); break;
    case 16: IM_SN(lower_packed_nr)(lw, k0, k1, tid, 16); break;
    case 32: IM_SN(lower_packed_nr)(lw, k0, k1, tid, 32); break;
    default: IM_SN(lower_packed_nr)(lw, k0, k1, tid, lw->NR); break;
    }
}

static void IM_SN(lower_packed)(IM_T *restrict dst, IM_T *rows, const fc_conv2d_desc *d,
                                const IM_T *x, const fc_kaxes *ka, int64_t K, int64_t q0,
                                int64_t q1, int64_t KC, int64_t NR, int narrow_t) {
    IM_SN(lowering) lw = {dst, rows, d, x, ka, NULL, NULL, K, q0, q1, KC, NR, narrow_t};
    const int nt = IM_SN(lower_threads)(d, K * (q1 - q0) * d->w_out);
    fc_parallel_for(nt, K, fc_parallel_grain(K, nt, 1), IM_SN(lower_packed_range), &lw);
}

/* The weight as A: in place when its axes collapse, else copied (c, r, s)-contiguous into wc. */
static const IM_T *IM_SN(weight_matrix)(const fc_conv2d_desc *d, const IM_T *w,
                                        const fc_im2col_plan *pl, IM_T *wc, int64_t *rsa) {
    if (pl->ka.collapsible) {
        *rsa = d->w_stride[0];
        return w + pl->ka.w_off;
    }
    const int64_t cg = d->c_in / d->groups;
    for (int64_t o = 0; o < d->c_out; o++)
        for (int64_t c = 0; c < cg; c++)
            for (int64_t r = 0; r < d->kh; r++)
                for (int64_t s = 0; s < d->kw; s++)
                    wc[o * pl->K + (c * d->kh + r) * d->kw + s] =
                        w[o * d->w_stride[0] + c * d->w_stride[1] + r * d->w_stride[2] +
                          s * d->w_stride[3]];
    *rsa = pl->K;
    return wc;
}

/* The 1x1 path: x is B as it lies, (c_in/groups) x (images * h * w) per group. */
static fc_status IM_SN(pointwise)(const fc_conv2d_desc *d, const IM_T *x, const IM_T *A,
                                  int64_t rsa, const fc_im2col_plan *pl, const IM_T *bias,
                                  IM_T *y, void *gws, size_t gws_bytes) {
    const int64_t hw = pl->hw, cg = d->c_in / d->groups;
    const int64_t *xs = d->x_stride, *ys = d->y_stride;
    /* One product over every image when C's columns can be addressed across images (y's rows
     * collapse); images that are not one stride apart become column groups. */
    const int64_t per = pl->y_rows ? d->n : 1;
    for (int64_t b0 = 0; b0 < d->n; b0 += per)
        for (int64_t g = 0; g < d->groups; g++) {
            IM_OP op = {0};
            op.m = pl->kg, op.n = per * hw, op.k = cg;
            op.alpha = 1, op.beta = 0;
            op.a = A + g * pl->kg * rsa, op.rsa = rsa, op.csa = pl->ka.csa;
            op.b = x + b0 * xs[0] + g * cg * xs[1], op.rsb = xs[1], op.csb = xs[3];
            if (per > 1 && xs[0] != hw * xs[3]) op.b_group = hw, op.b_gs = xs[0];
            op.c = y + b0 * ys[0] + g * pl->kg * ys[1], op.rsc = ys[1], op.csc = ys[3];
            if (!pl->y_rows) op.c_group = d->w_out, op.c_gs = ys[2];
            else if (per > 1 && ys[0] != hw * ys[3]) op.c_group = hw, op.c_gs = ys[0];
            if (bias) op.bias = bias + g * pl->kg * d->bias_stride, op.bias_stride = d->bias_stride;
            const fc_status st = IM_FN(gemm_op_run)(&op, d->nthreads, gws, gws_bytes);
            if (st != FC_OK) return st;
        }
    return FC_OK;
}

static fc_status IM_SN(conv2d_im2col_run)(const fc_conv2d_desc *d, const IM_T *x,
                                         const IM_T *w, const IM_T *bias, IM_T *y, void *ws,
                                         size_t ws_bytes) {
    if (d == NULL || x == NULL || w == NULL || y == NULL || d->groups < 1 ||
        d->c_in % d->groups || d->c_out % d->groups)
        return FC_ERR_INVALID_ARGUMENT;
    if (d->n == 0 || d->c_out == 0 || d->h_out <= 0 || d->w_out <= 0) return FC_OK;
    fc_im2col_plan pl;
    plan_fixed(d, sizeof(IM_T), &pl);
    const size_t fixed = pl.fixed_bytes;
    if (ws == NULL || ws_bytes < fixed) return FC_ERR_WORKSPACE_TOO_SMALL;
    char *base = (char *)fc_align_up((size_t)ws, FC_GEMM_ALIGN);
    void *gws = base;
    IM_T *wc = (IM_T *)(base + pl.gemm_ws);
    int64_t *tapoff = (int64_t *)(base + pl.gemm_ws + pl.wcopy_bytes);
    int32_t *tapidx = (int32_t *)(tapoff + pl.K);
    IM_T *low = (IM_T *)(base + pl.gemm_ws + pl.wcopy_bytes + pl.taps_bytes);
    int64_t rsa;
    double t = FC_PROFILE_START(d);
    const IM_T *A = IM_SN(weight_matrix)(d, w, &pl, wc, &rsa);
    FC_PROFILE_ADD(d, kernel_transform, t);
    if (pl.pointwise) {
        const fc_status st = IM_SN(pointwise)(d, x, A, rsa, &pl, bias, y, gws, pl.gemm_ws);
        FC_PROFILE_ADD(d, multiply, t);
        return st;
    }

    if (pl.by_panels) { /* per lowered row: x offset of its tap (image 0, no shift), (r, s) */
        fc_kstep st;
        kstep_init(&pl.ka, 0, &st);
        for (int64_t kk = 0; kk < pl.K; kk++, kstep_next(&pl.ka, &st)) {
            tapoff[kk] = st.crs[0] * d->x_stride[1] +
                         (st.crs[1] * d->dil_h - d->pad_top) * d->w_out +
                         st.crs[2] * d->dil_w - d->pad_left;
            tapidx[kk] = (int32_t)(st.crs[1] * d->kw + st.crs[2]);
        }
    }
    const int64_t rows = plan_rows(d, &pl, ws_bytes - fixed);
    if (rows < 1) return FC_ERR_WORKSPACE_TOO_SMALL;
    fc_gemm_blocking bk;
    IM_FN(gemm_blocking)(fc_active_isa(), &bk);
    /* packed: the lowered block (K x columns rounded up to NR), then one scratch row per
     * thread, after the largest block. */
    const int64_t max_pad = fc_div_up(rows * d->w_out, bk.nr) * bk.nr;
    IM_T *scratch_rows = (IM_T *)((char *)low + fc_align_up((size_t)(pl.K * max_pad) *
                                                            sizeof(IM_T), FC_GEMM_ALIGN));

    const int64_t ho = d->h_out, wo = d->w_out, hw = pl.hw, cg = d->c_in / d->groups;
    const int64_t *ys = d->y_stride;
    const int64_t q_end = d->n * ho;
    for (int64_t q0 = 0; q0 < q_end;) {
        /* Whole images when rows >= h_out (then rows is a multiple of h_out and q0 stays at
         * image starts), else a run of rows that stops at the end of its image. */
        const int64_t q1 = rows >= ho ? FC_MIN(q_end, q0 + rows)
                                      : FC_MIN(q0 + rows, (q0 / ho + 1) * ho);
        const int64_t b0 = q0 / ho, i0 = q0 % ho, nimg = (q1 - q0 + ho - 1) / ho;
        for (int64_t g = 0; g < d->groups; g++) {
            IM_OP op = {0};
            op.m = pl.kg, op.n = (q1 - q0) * wo, op.k = pl.K;
            op.alpha = 1, op.beta = 0;
            op.a = A + g * pl.kg * rsa, op.rsa = rsa, op.csa = pl.ka.csa;
            const IM_T *xg = x + g * cg * d->x_stride[1];
            if (pl.packed) {
                op.b_narrow_t = IM_FN(gemm_narrow_t)(op.n, op.rsa, op.csa);
                if (pl.by_panels)
                    IM_SN(lower_panels)(low, d, xg, tapoff, tapidx, pl.K, q0, q1, bk.kc, bk.nr,
                                        op.b_narrow_t);
                else
                    IM_SN(lower_packed)(low, scratch_rows, d, xg, &pl.ka, pl.K, q0, q1, bk.kc,
                                        bk.nr, op.b_narrow_t);
                op.b_packed = low;
            } else {
                IM_SN(lower)(low, d, xg, &pl.ka, pl.K, q0, q1);
                op.b = low, op.rsb = op.n, op.csb = 1;
            }
            FC_PROFILE_ADD(d, input_transform, t);
            op.c = y + b0 * ys[0] + g * pl.kg * ys[1] + i0 * ys[2], op.rsc = ys[1], op.csc = ys[3];
            if (!pl.y_rows) op.c_group = wo, op.c_gs = ys[2];
            else if (nimg > 1 && ys[0] != hw * ys[3]) op.c_group = hw, op.c_gs = ys[0];
            if (bias) op.bias = bias + g * pl.kg * d->bias_stride, op.bias_stride = d->bias_stride;
            const fc_status st = IM_FN(gemm_op_run)(&op, d->nthreads, gws, pl.gemm_ws);
            FC_PROFILE_ADD(d, multiply, t);
            if (st != FC_OK) return st;
        }
        q0 = q1;
    }
    return FC_OK;
}

/* Profile phases: kernel_transform = the weight copy (only for weights whose axes do not
 * collapse), input_transform = lowering (into the packed-B layout), multiply = the GEMM (bias
 * included; the whole product on the 1x1 path). */
fc_status IM_FN(conv2d_im2col)(const fc_conv2d_desc *d, const IM_T *x, const IM_T *w,
                               const IM_T *bias, IM_T *y, void *ws, size_t ws_bytes) {
    double t = d ? FC_PROFILE_START(d) : 0.0;
    const fc_status st = IM_SN(conv2d_im2col_run)(d, x, w, bias, y, ws, ws_bytes);
    if (d && d->profile) {
        FC_PROFILE_ADD(d, total, t);
        d->profile->calls += 1;
    }
    return st;
}

#undef IM_CAT_
#undef IM_CAT
#undef IM_FN
#undef IM_SN
#undef IM_T
#undef IM_P
#undef IM_OP
#undef IM_MT
