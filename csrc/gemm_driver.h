/* The GEMM loops and packing, written once and instantiated per dtype by gemm.c (no include
 * guard: included once per dtype). The includer defines
 *   GD_T      element type                   GD_P     symbol prefix token (f32 / f64)
 *   GD_OP     fc_<P>_gemm_op                 GD_UKFN  fc_<P>_ukernel_fn
 *   GD_TABLE  per-ISA table of { fc_gemm_blocking blk; GD_UKFN uk; } indexed by fc_isa
 * and this file undefines them at its end.
 *
 * The five loops, after BLIS (Van Zee & van de Geijn, TOMS 2015):
 *   jc: n in blocks of NC      packed B block (KC x NC) shared by all threads, lives in L3
 *    pc: k in blocks of KC     every thread packs its share of B, then one barrier
 *     ic: m in blocks of MC    packed A block (MC x KC), private to a thread, lives in L2
 *      jr: NR columns          one packed B micro-panel (KC x NR), stays in L1 across ir
 *       ir: MR rows            microkernel: MR x NR tile of C in registers
 * Threads form a tm x tn grid: tm splits the rows of C (each thread packs its own A), tn the
 * NR panels of each B block. See choose_grid for which split is chosen. */

#define GD_CAT_(a, b) a##b
#define GD_CAT(a, b) GD_CAT_(a, b)
#define GD_FN(name) GD_CAT(GD_CAT(fc_, GD_P), GD_CAT(_, name)) /* public: fc_f32_<name> */
#define GD_SN(name) GD_CAT(GD_P, GD_CAT(_, name))              /* private: f32_<name> */

/* Column j of a (possibly grouped) operand, as an element offset. */
static inline int64_t GD_SN(col_offset)(int64_t j, int64_t cs, int64_t group, int64_t gs) {
    return group > 0 ? (j / group) * gs + (j % group) * cs : j * cs;
}

/* ---- packing --------------------------------------------------------------------------- */
/* One micro-panel of A: rows [i, i + mrows) and columns [pc, pc + kc) into dst[p * MR + r],
 * rows mrows..MR-1 zero. Called with a literal MR so each case is specialised. */
static inline __attribute__((always_inline)) void GD_SN(pack_a_mr)(
    GD_T *restrict dst, const GD_T *restrict a, int64_t rsa, int64_t csa, int64_t mrows,
    int64_t kc, const int64_t MR) {
    if (mrows == MR && csa == 1) { /* row-major A: MR row streams */
        for (int64_t p = 0; p < kc; p++)
            for (int64_t r = 0; r < MR; r++) dst[p * MR + r] = a[r * rsa + p];
    } else if (mrows == MR && rsa == 1) { /* column-major A: one contiguous run per column */
        for (int64_t p = 0; p < kc; p++)
            for (int64_t r = 0; r < MR; r++) dst[p * MR + r] = a[p * csa + r];
    } else {
        for (int64_t p = 0; p < kc; p++)
            for (int64_t r = 0; r < MR; r++)
                dst[p * MR + r] = r < mrows ? a[r * rsa + p * csa] : (GD_T)0;
    }
}

static void GD_SN(pack_a)(GD_T *restrict dst, const GD_OP *op, int64_t i, int64_t mrows,
                          int64_t pc, int64_t kc, int64_t MR) {
    const GD_T *a = op->a + i * op->rsa + pc * op->csa;
    switch (MR) {
    case 4: GD_SN(pack_a_mr)(dst, a, op->rsa, op->csa, mrows, kc, 4); break;
    case 6: GD_SN(pack_a_mr)(dst, a, op->rsa, op->csa, mrows, kc, 6); break;
    case 14: GD_SN(pack_a_mr)(dst, a, op->rsa, op->csa, mrows, kc, 14); break;
    default: GD_SN(pack_a_mr)(dst, a, op->rsa, op->csa, mrows, kc, MR); break;
    }
}

/* One micro-panel of B: rows [pc, pc + kc), columns [j, j + ncols) into dst[p * NR + c],
 * columns ncols..NR-1 zero. */
static inline __attribute__((always_inline)) void GD_SN(pack_b_nr)(
    GD_T *restrict dst, const GD_OP *op, int64_t pc, int64_t kc, int64_t j, int64_t ncols,
    const int64_t NR) {
    const int64_t rsb = op->rsb, csb = op->csb, g = op->b_group;
    const GD_T *b = op->b + pc * rsb;
    if (g == 0 || j % g + ncols <= g) { /* the panel's columns are evenly spaced */
        const GD_T *src = b + GD_SN(col_offset)(j, csb, g, op->b_gs);
        if (ncols == NR && csb == 1) { /* row-major B: NR contiguous values per row */
            for (int64_t p = 0; p < kc; p++)
                for (int64_t c = 0; c < NR; c++) dst[p * NR + c] = src[p * rsb + c];
        } else if (rsb == 1) { /* column-major B: one contiguous run per column */
            for (int64_t c = 0; c < ncols; c++)
                for (int64_t p = 0; p < kc; p++) dst[p * NR + c] = src[c * csb + p];
            for (int64_t p = 0; p < kc; p++)
                for (int64_t c = ncols; c < NR; c++) dst[p * NR + c] = 0;
        } else {
            for (int64_t p = 0; p < kc; p++)
                for (int64_t c = 0; c < NR; c++)
                    dst[p * NR + c] = c < ncols ? src[p * rsb + c * csb] : (GD_T)0;
        }
    } else { /* the panel straddles a group boundary (e.g. two images): gather by offsets */
        int64_t off[64];
        for (int64_t c = 0; c < ncols; c++) off[c] = GD_SN(col_offset)(j + c, csb, g, op->b_gs);
        for (int64_t p = 0; p < kc; p++)
            for (int64_t c = 0; c < NR; c++)
                dst[p * NR + c] = c < ncols ? b[p * rsb + off[c]] : (GD_T)0;
    }
}

static void GD_SN(pack_b)(GD_T *restrict dst, const GD_OP *op, int64_t pc, int64_t kc,
                          int64_t j, int64_t ncols, int64_t NR) {
    switch (NR) {
    case 8: GD_SN(pack_b_nr)(dst, op, pc, kc, j, ncols, 8); break;
    case 16: GD_SN(pack_b_nr)(dst, op, pc, kc, j, ncols, 16); break;
    case 32: GD_SN(pack_b_nr)(dst, op, pc, kc, j, ncols, 32); break;
    default: GD_SN(pack_b_nr)(dst, op, pc, kc, j, ncols, NR); break;
    }
}

/* ---- one tile of C --------------------------------------------------------------------- */
static inline GD_T GD_SN(bias_at)(const GD_OP *op, int bias_on_cols, int64_t i, int64_t j) {
    return op->bias[(bias_on_cols ? j : i) * op->bias_stride];
}

static inline void GD_SN(tile)(const GD_OP *op, GD_UKFN uk, int64_t kc, const GD_T *ap,
                               const GD_T *bp, int64_t i, int64_t j, int64_t me, int64_t ne,
                               int first, int last, int bias_on_cols, GD_T *tmp, int64_t NR) {
    const GD_T beta = first ? op->beta : (GD_T)1;
    const int64_t g = op->c_group, rsc = op->rsc, csc = op->csc;
    const int add_bias = last && op->bias != NULL;
    if (g == 0 || j % g + ne <= g) {
        GD_T *cp = op->c + i * rsc + GD_SN(col_offset)(j, csc, g, op->c_gs);
        uk(kc, ap, bp, op->alpha, beta, cp, rsc, csc, me, ne);
        if (add_bias)
            for (int64_t r = 0; r < me; r++)
                for (int64_t c = 0; c < ne; c++)
                    cp[r * rsc + c * csc] += GD_SN(bias_at)(op, bias_on_cols, i + r, j + c);
        return;
    }
    /* The tile straddles a group boundary of C: compute it aside, then scatter. */
    uk(kc, ap, bp, (GD_T)1, (GD_T)0, tmp, NR, 1, me, ne);
    for (int64_t r = 0; r < me; r++)
        for (int64_t c = 0; c < ne; c++) {
            GD_T *cp = op->c + (i + r) * rsc + GD_SN(col_offset)(j + c, csc, g, op->c_gs);
            GD_T v = op->alpha * tmp[r * NR + c];
            if (beta != 0) v += beta * *cp;
            if (add_bias) v += GD_SN(bias_at)(op, bias_on_cols, i + r, j + c);
            *cp = v;
        }
}

/* ---- workspace ------------------------------------------------------------------------- */
static size_t GD_SN(ws_bytes)(const fc_gemm_blocking *bk, int64_t m, int64_t n, int64_t k,
                              int nt) {
    const int64_t kc = FC_MAX(1, FC_MIN(bk->kc, k));
    const int64_t nc = fc_div_up(FC_MIN(bk->nc, FC_MAX(n, 1)), bk->nr) * bk->nr;
    const int64_t mc = fc_div_up(FC_MIN(bk->mc, FC_MAX(m, 1)), bk->mr) * bk->mr;
    return FC_GEMM_ALIGN + fc_align_up((size_t)(kc * nc) * sizeof(GD_T), FC_GEMM_ALIGN) +
           (size_t)FC_MAX(nt, 1) * fc_align_up((size_t)(mc * kc) * sizeof(GD_T), FC_GEMM_ALIGN);
}

size_t GD_FN(gemm_op_workspace_size)(int64_t m, int64_t n, int64_t k, int nthreads) {
    /* Either orientation may run (see gemm_op_run), so the larger of the two. */
    const fc_gemm_blocking *bk = &GD_TABLE[fc_active_isa()].blk;
    return FC_MAX(GD_SN(ws_bytes)(bk, m, n, k, nthreads), GD_SN(ws_bytes)(bk, n, m, k, nthreads));
}

/* ---- threads --------------------------------------------------------------------------- */
/* Fraction of thread slots doing useful work when `units` equal pieces go to `t` threads. */
static double GD_SN(balance)(int64_t units, int t) {
    return (double)units / ((double)t * (double)fc_div_up(units, t));
}

/* tm x tn = nt. Splitting rows (tm) keeps each thread's packed A private in its own L2, so it
 * wins ties; splitting columns (tn) wins when the rows divide badly among threads (small m,
 * e.g. 64 output channels = 11 tiles of 6 rows), at the cost of every thread packing the
 * same A block (cheap exactly when m is small). */
static void GD_SN(choose_grid)(const fc_gemm_blocking *bk, int64_t m, int64_t n, int nt,
                               int *tm_out, int *tn_out) {
    const int64_t tiles_m = fc_div_up(m, bk->mr);
    const int64_t panels_n = fc_div_up(FC_MIN(n, bk->nc), bk->nr);
    int best_tm = nt;
    double best = -1;
    for (int tm = nt; tm >= 1; tm--) {
        if (nt % tm) continue;
        const int tn = nt / tm;
        const double score = GD_SN(balance)(tiles_m, tm) * GD_SN(balance)(panels_n, tn);
        if (score > best * 1.01) {
            best = score;
            best_tm = tm;
        }
    }
    *tm_out = best_tm;
    *tn_out = nt / best_tm;
}

/* Below this many flops per thread the OpenMP fork/join and the split packing cost more than
 * the second core gains (measured: a 2-thread fork + 2 barriers ~ 5-10 us on this machine). */
#define GD_MIN_FLOPS_PER_THREAD 4.0e6

/* ---- the loops ------------------------------------------------------------------------- */
static void GD_SN(body)(const GD_OP *op, GD_UKFN uk, const fc_gemm_blocking *bk, int tid,
                        int nt, int tm, int tn, GD_T *bpack, GD_T *apack, int bias_on_cols) {
    const int64_t MR = bk->mr, NR = bk->nr, MC = bk->mc, KC = bk->kc, NC = bk->nc;
    const int64_t m = op->m, n = op->n, k = op->k;
    const int mi = tid / tn, ni = tid % tn;
    const int64_t tiles_m = fc_div_up(m, MR);
    const int64_t r0 = FC_MIN(m, tiles_m * mi / tm * MR);
    const int64_t r1 = FC_MIN(m, tiles_m * (mi + 1) / tm * MR);
    GD_T tmp[16 * 64] __attribute__((aligned(64))); /* MR <= 16, NR <= 64 (checked in run) */

    for (int64_t jc = 0; jc < n; jc += NC) {
        const int64_t nc = FC_MIN(NC, n - jc), np = fc_div_up(nc, NR);
        const int64_t q0 = np * ni / tn, q1 = np * (ni + 1) / tn;
        for (int64_t pc = 0; pc < k; pc += KC) {
            const int64_t kc = FC_MIN(KC, k - pc);
            const int first = pc == 0, last = pc + kc == k;
            for (int64_t q = np * tid / nt; q < np * (tid + 1) / nt; q++)
                GD_SN(pack_b)(bpack + q * NR * kc, op, pc, kc, jc + q * NR,
                              FC_MIN(NR, nc - q * NR), NR);
#pragma omp barrier
            for (int64_t ic = r0; ic < r1; ic += MC) {
                const int64_t mc = FC_MIN(MC, r1 - ic);
                for (int64_t ir = 0; ir < mc; ir += MR)
                    GD_SN(pack_a)(apack + ir * kc, op, ic + ir, FC_MIN(MR, mc - ir), pc, kc, MR);
                for (int64_t q = q0; q < q1; q++) {
                    const GD_T *bp = bpack + q * NR * kc;
                    const int64_t j = jc + q * NR, ne = FC_MIN(NR, nc - q * NR);
                    for (int64_t ir = 0; ir < mc; ir += MR)
                        GD_SN(tile)(op, uk, kc, apack + ir * kc, bp, ic + ir, j,
                                    FC_MIN(MR, mc - ir), ne, first, last, bias_on_cols, tmp, NR);
                }
            }
#pragma omp barrier
        }
    }
}

/* C := beta * C (+ bias) when k == 0: no product, and C still not read when beta == 0. */
static void GD_SN(scale_only)(const GD_OP *op, int bias_on_cols) {
    for (int64_t i = 0; i < op->m; i++)
        for (int64_t j = 0; j < op->n; j++) {
            GD_T *cp = op->c + i * op->rsc + GD_SN(col_offset)(j, op->csc, op->c_group, op->c_gs);
            GD_T v = op->beta == 0 ? (GD_T)0 : op->beta * *cp;
            if (op->bias) v += GD_SN(bias_at)(op, bias_on_cols, i, j);
            *cp = v;
        }
}

fc_status GD_FN(gemm_op_run)(const GD_OP *op_in, int nthreads, void *ws, size_t ws_bytes) {
    GD_OP op = *op_in;
    if (op.m < 0 || op.n < 0 || op.k < 0 || op.b_group < 0 || op.c_group < 0)
        return FC_ERR_INVALID_ARGUMENT;
    if (op.m == 0 || op.n == 0) return FC_OK;
    if (op.c == NULL || (op.k > 0 && (op.a == NULL || op.b == NULL)))
        return FC_ERR_INVALID_ARGUMENT;
    const fc_isa isa = fc_active_isa();
    const fc_gemm_blocking *bk = &GD_TABLE[isa].blk;
    const GD_UKFN uk = GD_TABLE[isa].uk;
    if (bk->mr > 16 || bk->nr > 64) return FC_ERR_UNSUPPORTED;

    /* Orientation. The microkernel stores whole rows of C with vector stores when csc == 1;
     * a column-major C (rsc == 1, e.g. the NHWC output of a convolution) is computed as
     * C^T = B^T A^T, which swaps the roles (and the packing) of A and B. */
    int bias_on_cols = 0;
    if (op.b_group == 0 && op.c_group == 0 && op.rsc * op.rsc == 1 && op.csc * op.csc != 1) {
        const GD_T *a = op.a;
        const int64_t rsa = op.rsa, csa = op.csa, m = op.m;
        op.a = op.b, op.rsa = op.csb, op.csa = op.rsb;
        op.b = a, op.rsb = csa, op.csb = rsa;
        op.m = op.n, op.n = m;
        const int64_t rsc = op.rsc;
        op.rsc = op.csc, op.csc = rsc;
        bias_on_cols = 1;
    }
    if (op.k == 0) {
        GD_SN(scale_only)(&op, bias_on_cols);
        return FC_OK;
    }

    int nt = nthreads < 1 ? 1 : nthreads;
#if !defined(_OPENMP)
    nt = 1;
#endif
    const double flops = 2.0 * (double)op.m * (double)op.n * (double)op.k;
    nt = (int)FC_MIN((double)nt, FC_MAX(1.0, flops / GD_MIN_FLOPS_PER_THREAD));
    if (ws == NULL || ws_bytes < GD_SN(ws_bytes)(bk, op.m, op.n, op.k, nt))
        return FC_ERR_WORKSPACE_TOO_SMALL;
    int tm, tn;
    GD_SN(choose_grid)(bk, op.m, op.n, nt, &tm, &tn);

    const int64_t kc = FC_MIN(bk->kc, op.k);
    const int64_t nc = fc_div_up(FC_MIN(bk->nc, op.n), bk->nr) * bk->nr;
    const int64_t mc = fc_div_up(FC_MIN(bk->mc, op.m), bk->mr) * bk->mr;
    char *base = (char *)fc_align_up((size_t)ws, FC_GEMM_ALIGN);
    GD_T *bpack = (GD_T *)base;
    char *abase = base + fc_align_up((size_t)(kc * nc) * sizeof(GD_T), FC_GEMM_ALIGN);
    const size_t astride = fc_align_up((size_t)(mc * kc) * sizeof(GD_T), FC_GEMM_ALIGN);

    if (nt == 1) {
        GD_SN(body)(&op, uk, bk, 0, 1, 1, 1, bpack, (GD_T *)abase, bias_on_cols);
        return FC_OK;
    }
#pragma omp parallel num_threads(nt)
    {
#if defined(_OPENMP)
        const int tid = omp_get_thread_num(), got = omp_get_num_threads();
#else
        const int tid = 0, got = 1;
#endif
        /* A smaller team than asked (nested parallelism, OMP_THREAD_LIMIT) still covers it all:
         * recompute the grid for the team we got. */
        int gtm = tm, gtn = tn;
        if (got != nt) GD_SN(choose_grid)(bk, op.m, op.n, got, &gtm, &gtn);
        GD_SN(body)(&op, uk, bk, tid, got, gtm, gtn, bpack, (GD_T *)(abase + astride * tid),
                    bias_on_cols);
    }
    return FC_OK;
}

/* ---- public entry points ----------------------------------------------------------------- */
fc_status GD_FN(gemm_blocking)(fc_isa isa, fc_gemm_blocking *out) {
    if ((int)isa < FC_ISA_SCALAR || (int)isa > FC_ISA_AVX512 || out == NULL)
        return FC_ERR_INVALID_ARGUMENT;
    *out = GD_TABLE[isa].blk;
    return FC_OK;
}

size_t GD_FN(gemm_workspace_size)(int64_t m, int64_t n, int64_t k, int nthreads) {
    return GD_FN(gemm_op_workspace_size)(m, n, k, nthreads);
}

fc_status GD_FN(gemm)(int64_t m, int64_t n, int64_t k, GD_T alpha, const GD_T *a, int64_t rsa,
                      int64_t csa, const GD_T *b, int64_t rsb, int64_t csb, GD_T beta, GD_T *c,
                      int64_t rsc, int64_t csc, int nthreads, void *ws, size_t ws_bytes) {
    GD_OP op = {0};
    op.m = m, op.n = n, op.k = k, op.alpha = alpha, op.beta = beta;
    op.a = a, op.rsa = rsa, op.csa = csa;
    op.b = b, op.rsb = rsb, op.csb = csb;
    op.c = c, op.rsc = rsc, op.csc = csc;
    return GD_FN(gemm_op_run)(&op, nthreads, ws, ws_bytes);
}

fc_status GD_FN(gemm_ukernel)(fc_isa isa, int64_t k, const GD_T *a_packed, const GD_T *b_packed,
                              GD_T alpha, GD_T beta, GD_T *c, int64_t rsc, int64_t csc,
                              int64_t m, int64_t n) {
    if ((int)isa < FC_ISA_SCALAR || (int)isa > FC_ISA_AVX512) return FC_ERR_INVALID_ARGUMENT;
    if ((int)isa > (int)fc_cpu_isa()) return FC_ERR_ISA_UNAVAILABLE;
    const fc_gemm_blocking *bk = &GD_TABLE[isa].blk;
    if (k < 0 || m < 0 || n < 0 || m > bk->mr || n > bk->nr) return FC_ERR_INVALID_ARGUMENT;
    GD_TABLE[isa].uk(k, a_packed, b_packed, alpha, beta, c, rsc, csc, m, n);
    return FC_OK;
}

#undef GD_CAT_
#undef GD_CAT
#undef GD_FN
#undef GD_SN
#undef GD_MIN_FLOPS_PER_THREAD
#undef GD_T
#undef GD_P
#undef GD_OP
#undef GD_UKFN
#undef GD_TABLE
