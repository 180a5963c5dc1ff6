/* The GEMM loops and packing, written once and instantiated per dtype by gemm.c (no include
 * guard: included once per dtype). The includer defines
 *   GD_T      element type                   GD_P     symbol prefix token (f32 / f64)
 *   GD_OP     fc_<P>_gemm_op                 GD_UKFN  fc_<P>_ukernel_fn
 *   GD_KERNEL struct { fc_gemm_blocking blk; GD_UKFN uk, dot; pack_a } (see gemm.c)
 *   GD_TABLE  per-ISA table of GD_KERNEL indexed by fc_isa
 * and this file undefines them at its end.
 *
 * The five loops, after BLIS (Van Zee & van de Geijn, TOMS 2015):
 *   jc: n in blocks of NC      packed B block (KC x NC), lives in L3
 *    pc: k in blocks of KC
 *     ic: m in blocks of MC    packed A block (MC x KC), lives in L2 (or A read in place)
 *      jr: NR columns          one packed B micro-panel (KC x NR), stays in L1 across ir
 *       ir: MR rows            microkernel: MR x NR tile of C in registers
 * Threads: a grid of independent blocks of C (see the threads section below). */

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
    if (mrows == MR && csa == 1) { /* row-major A: one row at a time, read in sequence (the
                                    * rows may alias in L1: see rows_per_l1_set) */
        for (int64_t r = 0; r < MR; r++)
            for (int64_t p = 0; p < kc; p++) dst[p * MR + r] = a[r * rsa + p];
    } else if (mrows == MR && rsa == 1) { /* column-major A: one contiguous run per column */
        for (int64_t p = 0; p < kc; p++)
            for (int64_t r = 0; r < MR; r++) dst[p * MR + r] = a[p * csa + r];
    } else {
        for (int64_t p = 0; p < kc; p++)
            for (int64_t r = 0; r < MR; r++)
                dst[p * MR + r] = r < mrows ? a[r * rsa + p * csa] : (GD_T)0;
    }
}

static void GD_SN(pack_a)(GD_T *restrict dst, const GD_OP *op, const GD_KERNEL *ek, int64_t i,
                          int64_t mrows, int64_t pc, int64_t kc, int64_t MR) {
    const GD_T *a = op->a + i * op->rsa + pc * op->csa;
    if (ek->pack_a != NULL && mrows == MR && op->csa == 1) {
        ek->pack_a(dst, a, op->rsa, kc);
        return;
    }
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

/* Panels [q0, q1) of the B block that starts at column jc (nc columns) into dst. When B's
 * rows are contiguous (csb == 1) and the columns evenly spaced, it walks B row by row, so the
 * reads are sequential runs (the hardware prefetchers follow them) and each row feeds every
 * panel; otherwise panel by panel. */
static inline __attribute__((always_inline)) void GD_SN(pack_b_range_nr)(
    GD_T *restrict dst, const GD_OP *op, int64_t pc, int64_t kc, int64_t jc, int64_t nc,
    int64_t q0, int64_t q1, const int64_t NR, int narrow_t) {
    if (q0 >= q1) return;
    /* A last panel of at most NR/4 columns, when narrow_t: packed transposed, dst[c * kc + p],
     * for the dot kernel. */
    const int64_t last_cols = FC_MIN(NR, nc - (q1 - 1) * NR);
    if (narrow_t && last_cols <= NR / 4) {
        GD_T *dt = dst + (q1 - 1 - q0) * NR * kc;
        const GD_T *b = op->b + pc * op->rsb;
        for (int64_t c = 0; c < last_cols; c++) {
            const GD_T *src = b + GD_SN(col_offset)(jc + (q1 - 1) * NR + c, op->csb, op->b_group,
                                                    op->b_gs);
            for (int64_t p = 0; p < kc; p++) dt[c * kc + p] = src[p * op->rsb];
        }
        if (--q1 == q0) return;
    }
    const int64_t j0 = jc + q0 * NR, j1 = FC_MIN(jc + nc, jc + q1 * NR), g = op->b_group;
    if (op->csb == 1 && (g == 0 || j0 / g == (j1 - 1) / g)) {
        const GD_T *src = op->b + pc * op->rsb + GD_SN(col_offset)(j0, 1, g, op->b_gs);
        const int64_t nfull = (j1 - j0) / NR, tail = (j1 - j0) % NR;
        for (int64_t p = 0; p < kc; p++) {
            const GD_T *row = src + p * op->rsb;
            GD_T *d = dst + p * NR;
            for (int64_t q = 0; q < nfull; q++)
                for (int64_t c = 0; c < NR; c++) d[q * NR * kc + c] = row[q * NR + c];
            if (tail) {
                GD_T *dt = d + nfull * NR * kc;
                for (int64_t c = 0; c < tail; c++) dt[c] = row[nfull * NR + c];
                for (int64_t c = tail; c < NR; c++) dt[c] = 0;
            }
        }
        return;
    }
    for (int64_t q = q0; q < q1; q++)
        GD_SN(pack_b_nr)(dst + (q - q0) * NR * kc, op, pc, kc, jc + q * NR,
                         FC_MIN(NR, nc - q * NR), NR);
}

static void GD_SN(pack_b)(GD_T *restrict dst, const GD_OP *op, int64_t pc, int64_t kc,
                          int64_t jc, int64_t nc, int64_t q0, int64_t q1, int64_t NR,
                          int narrow_t) {
    switch (NR) {
    case 8: GD_SN(pack_b_range_nr)(dst, op, pc, kc, jc, nc, q0, q1, 8, narrow_t); break;
    case 16: GD_SN(pack_b_range_nr)(dst, op, pc, kc, jc, nc, q0, q1, 16, narrow_t); break;
    case 32: GD_SN(pack_b_range_nr)(dst, op, pc, kc, jc, nc, q0, q1, 32, narrow_t); break;
    default: GD_SN(pack_b_range_nr)(dst, op, pc, kc, jc, nc, q0, q1, NR, narrow_t); break;
    }
}

/* ---- one tile of C --------------------------------------------------------------------- */
static inline GD_T GD_SN(bias_at)(const GD_OP *op, int bias_on_cols, int64_t i, int64_t j) {
    return op->bias[(bias_on_cols ? j : i) * op->bias_stride];
}

/* The bias of rows i.. (or columns j.., bias_on_cols) added to the me x ne tile at cp, just
 * stored and still in L1. Loops without a branch per element and, for a bias per row, a
 * contiguous inner loop the compiler vectorises: the per-element form with the choice inside
 * added 0.09 ms to a 96 x 16 x 12544 GEMM of 0.26 ms (Zen 4, 2 threads). */
static inline void GD_SN(add_bias)(const GD_OP *op, int bias_on_cols, GD_T *cp, int64_t i,
                                   int64_t j, int64_t me, int64_t ne) {
    const int64_t rsc = op->rsc, csc = op->csc, bs = op->bias_stride;
    if (!bias_on_cols) {
        for (int64_t r = 0; r < me; r++) {
            const GD_T bv = op->bias[(i + r) * bs];
            GD_T *row = cp + r * rsc;
            if (csc == 1)
                for (int64_t c = 0; c < ne; c++) row[c] += bv;
            else
                for (int64_t c = 0; c < ne; c++) row[c * csc] += bv;
        }
    } else {
        const GD_T *bias = op->bias + j * bs;
        for (int64_t r = 0; r < me; r++) {
            GD_T *row = cp + r * rsc;
            if (csc == 1 && bs == 1)
                for (int64_t c = 0; c < ne; c++) row[c] += bias[c];
            else
                for (int64_t c = 0; c < ne; c++) row[c * csc] += bias[c * bs];
        }
    }
}

static inline void GD_SN(tile)(const GD_OP *op, GD_UKFN uk, int64_t kc, const GD_T *ap,
                               int64_t ars, int64_t acs, const GD_T *bp, int64_t i, int64_t j,
                               int64_t me, int64_t ne, int first, int last, int bias_on_cols,
                               GD_T *tmp, int64_t NR) {
    const GD_T beta = first ? op->beta : (GD_T)1;
    const int64_t g = op->c_group, rsc = op->rsc, csc = op->csc;
    const int add_bias = last && op->bias != NULL;
    if (g == 0 || j % g + ne <= g) {
        GD_T *cp = op->c + i * rsc + GD_SN(col_offset)(j, csc, g, op->c_gs);
        uk(kc, ap, ars, acs, bp, op->alpha, beta, cp, rsc, csc, me, ne);
        if (add_bias) GD_SN(add_bias)(op, bias_on_cols, cp, i, j, me, ne);
        return;
    }
    /* The tile straddles a group boundary of C: compute it aside, then scatter. */
    uk(kc, ap, ars, acs, bp, (GD_T)1, (GD_T)0, tmp, NR, 1, me, ne);
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
/* Per thread: one packed B block (KC x NC) and one packed A block (MC x KC). */
static size_t GD_SN(ws_per_thread)(const fc_gemm_blocking *bk, int64_t m, int64_t n, int64_t k) {
    const int64_t kc = FC_MAX(1, FC_MIN(bk->kc, k));
    const int64_t nc = fc_div_up(FC_MIN(bk->nc, FC_MAX(n, 1)), bk->nr) * bk->nr;
    const int64_t mc = fc_div_up(FC_MIN(bk->mc, FC_MAX(m, 1)), bk->mr) * bk->mr;
    return fc_align_up((size_t)(kc * nc) * sizeof(GD_T), FC_GEMM_ALIGN) +
           fc_align_up((size_t)(mc * kc) * sizeof(GD_T), FC_GEMM_ALIGN);
}

static size_t GD_SN(ws_bytes)(const fc_gemm_blocking *bk, int64_t m, int64_t n, int64_t k,
                              int nt) {
    return FC_GEMM_ALIGN + (size_t)FC_MAX(nt, 1) * GD_SN(ws_per_thread)(bk, m, n, k);
}

size_t GD_FN(gemm_op_workspace_size)(int64_t m, int64_t n, int64_t k, int nthreads) {
    /* Either orientation may run (see gemm_op_run), so the larger of the two. */
    const fc_gemm_blocking *bk = &GD_TABLE[fc_active_isa()].blk;
    return FC_MAX(GD_SN(ws_bytes)(bk, m, n, k, nthreads), GD_SN(ws_bytes)(bk, n, m, k, nthreads));
}

/* Columns of C from which packing A pays for itself (see wants_packed_a). */
#define GD_PACK_A_MIN_N 1024

/* NC for a thread's block of m rows. With m <= MC there is a single ic block: every packed B
 * panel is read by a few row tiles right after it was packed, and B is not reused after
 * that. A B block of KC x NC in L3 then costs a trip to L3 for every packed line, written
 * and read back: packing 576 x 3136 fp32 took 0.75 ns per element into a 4.8 MiB block and
 * 0.24 ns into blocks of <= 1/2 L2. So such threads use NC = L2 / 2 / (KC size) (336 for fp32
 * at KC 384 and a 1 MiB L2; the L2 is this machine's, fc_set_cache_sizes). With more rows
 * each B panel is reused by every ic block and the table's NC (few, large B blocks; A packed
 * fewer times) is kept. */
#define GD_L2_BYTES ((double)fc_cache_l2())
static int64_t GD_SN(nc_for)(const fc_gemm_blocking *bk, int64_t m, int64_t k) {
    /* ...and only when A is small enough (<= L2 / 4) to be read once per B block from L2:
     * 128 x 1152 (590 KiB, read in place) measured slower with the small blocks. */
    if (m > bk->mc || (double)m * (double)k * sizeof(GD_T) > GD_L2_BYTES / 4) return bk->nc;
    const int64_t kc = FC_MAX(1, FC_MIN(bk->kc, k));
    const int64_t nc = (int64_t)(GD_L2_BYTES / 2 / (double)sizeof(GD_T)) / kc / bk->nr * bk->nr;
    return FC_MAX(bk->nr, FC_MIN(bk->nc, nc));
}

/* ---- orientation ---------------------------------------------------------------------- */
/* Whether to compute C^T = B^T A^T instead: the microkernel stores rows of C with vectors when
 * csc == 1 and element by element otherwise, so a column-major C (e.g. the NHWC output of a
 * convolution) is transposed. (Transposing to waste less of the tile when n is small was
 * tried and lost: the weight then needs a transposing pack; the dot kernels handle narrow
 * last panels instead.) */
static int GD_SN(prefer_transposed)(int64_t rsc, int64_t csc) {
    return rsc * rsc == 1 && csc * csc != 1;
}

/* The most rows of an MR-row tile of A, read in place with row stride rsa, that fall in one
 * set of a 64-set L1d (4 KiB apart: 32 KiB 8-way, 48 KiB 12-way). More than 8 in one set and
 * the tile's current lines evict each other between k steps: A with a row stride of 1024 or
 * 2048 floats (the weight of a 1x1 convolution from 1024 or 2048 channels) ran the 14-row
 * AVX-512 kernel at 66-86 GFLOP/s against 82-107 with the rows padded by 16 floats
 * (512 x 2048 x 49 / 196, 1 thread, Zen 4). */
static int GD_SN(rows_per_l1_set)(int64_t rsa, int64_t MR) {
    int count[64] = {0}, most = 0;
    for (int64_t i = 0; i < MR; i++) {
        const uint64_t off = (uint64_t)(i * rsa * (int64_t)sizeof(GD_T));
        const int set = (int)((off & 4095u) >> 6);
        if (++count[set] > most) most = count[set];
    }
    return most;
}

/* Packing A costs one copy of A per NC columns of C; the broadcast microkernel can read a
 * unit-stride A in place (MR row streams), so A is packed only when that copy is amortised
 * over many columns, when A has no unit stride, or when its rows alias in L1. */
static int GD_SN(wants_packed_a)(int64_t n, int64_t rsa, int64_t csa) {
    const int64_t MR = GD_TABLE[fc_active_isa()].blk.mr;
    return n >= GD_PACK_A_MIN_N || (csa != 1 && rsa != 1) ||
           (csa == 1 && GD_SN(rows_per_l1_set)(rsa, MR) > 8);
}

int GD_FN(gemm_narrow_t)(int64_t n, int64_t rsa, int64_t csa) {
    const GD_KERNEL *ek = &GD_TABLE[fc_active_isa()];
    const int64_t NR = ek->blk.nr, last = n - (fc_div_up(n, NR) - 1) * NR;
    (void)rsa;
    return ek->dot != NULL && csa == 1 && n > 0 && last <= NR / 4;
}

/* ---- threads --------------------------------------------------------------------------- *
 * The threads share nothing but the read-only A and B and a chunk counter: C is cut into
 * chunks (blocks of rows, multiples of MR, times blocks of columns, multiples of NR) and each
 * thread runs the sequential loops on the chunks it takes, with its own packed buffers. No
 * barrier inside: on a machine shared with other work (2 cores here) a thread that is
 * descheduled for a time slice stalls only its own chunk, where a barrier per KC block made
 * every thread wait for it (measured: 2 threads slower than 1 under load). The price is
 * packing twice what two chunks both need: the split is chosen to make that small
 * (choose_grid, choose_chunks). */

/* Below this many flops per thread the OpenMP fork/join costs more than the second core
 * gains (a fork/join is ~5-10 us on this machine; 4 Mflop is ~45 us of one core). */
#define GD_MIN_FLOPS_PER_THREAD 4.0e6
/* ...unless the product is memory-bound: a narrow one (n of a few columns: a GEMV, the 1x1
 * convolution of a 1x1 image) does 2 flops per element of A it streams, so its time is A's
 * bytes over one core's bandwidth and a second core adds bandwidth. 512 KiB of A is ~10 us
 * from L3 on one core, twice a fork/join. (1 x 1024 -> 1000 classifier head, float32: 1
 * thread 0.100 ms, 2 threads ~0.05.) */
#define GD_MIN_A_BYTES_PER_THREAD (512.0 * 1024.0)

/* A packed element costs about as much time as this many multiply-adds of the microkernel
 * (16 MACs/cycle vs ~2 elements copied/cycle). */
#define GD_PACK_COST_MACS 8.0

/* tm x tn = nt minimising the slowest thread's estimated time: its share of the microkernel
 * tiles (ceil: the imbalance) plus what it packs (its rows of A unless A is read in place,
 * and its columns of B). Splitting rows makes every thread pack all of B, splitting columns
 * all of A, so the split follows the smaller operand and the tile balance. */
static void GD_SN(choose_grid)(const fc_gemm_blocking *bk, int64_t m, int64_t n, int64_t k,
                               int pack_a, int nt, int *tm_out, int *tn_out) {
    const int64_t tiles_m = fc_div_up(m, bk->mr), panels_n = fc_div_up(n, bk->nr);
    double best = -1;
    int best_tm = 1;
    for (int tm = 1; tm <= nt; tm++) {
        if (nt % tm) continue;
        const int tn = nt / tm;
        const double rows = (double)(fc_div_up(tiles_m, tm) * bk->mr);
        const double cols = (double)(fc_div_up(panels_n, tn) * bk->nr);
        const double t = rows * cols * (double)k +
                         GD_PACK_COST_MACS * (double)k * ((pack_a ? rows : 0.0) + cols);
        if (best < 0 || t < best) {
            best = t;
            best_tm = tm;
        }
    }
    *tm_out = best_tm;
    *tn_out = nt / best_tm;
}

/* ---- the loops ------------------------------------------------------------------------- */
/* The sequential five loops over rows [r0, r1) and columns [c0, c1) of C. */
static void GD_SN(loops)(const GD_OP *op, const GD_KERNEL *ek, int64_t r0, int64_t r1,
                         int64_t c0, int64_t c1, GD_T *bpack, GD_T *apack, int pack_a,
                         int narrow_dot, int bias_on_cols) {
    const fc_gemm_blocking *bk = &ek->blk;
    const int64_t MR = bk->mr, NR = bk->nr, MC = bk->mc, KC = bk->kc;
    const int64_t NC = GD_SN(nc_for)(bk, r1 - r0, op->k);
    const int64_t k = op->k;
    GD_T tmp[16 * 64] __attribute__((aligned(64))); /* MR <= 16, NR <= 64 (checked in run) */

    for (int64_t jc = c0; jc < c1; jc += NC) {
        const int64_t nc = FC_MIN(NC, c1 - jc), np = fc_div_up(nc, NR);
        for (int64_t pc = 0; pc < k; pc += KC) {
            const int64_t kc = FC_MIN(KC, k - pc);
            const int first = pc == 0, last = pc + kc == k;
            const GD_T *bblk = bpack;
            if (op->b_packed)
                bblk = op->b_packed + pc * (fc_div_up(op->n, NR) * NR) + jc * kc;
            else
                GD_SN(pack_b)(bpack, op, pc, kc, jc, nc, 0, np, NR, narrow_dot);
            for (int64_t ic = r0; ic < r1; ic += MC) {
                const int64_t mc = FC_MIN(MC, r1 - ic);
                /* A micro-panel ir: packed at apack + ir * kc (rows 1, columns MR apart), or
                 * read where it lies. */
                const GD_T *ablk = apack;
                int64_t ars = 1, acs = MR, astep = kc;
                if (pack_a) {
                    for (int64_t ir = 0; ir < mc; ir += MR)
                        GD_SN(pack_a)(apack + ir * kc, op, ek, ic + ir, FC_MIN(MR, mc - ir), pc,
                                      kc, MR);
                } else {
                    ablk = op->a + ic * op->rsa + pc * op->csa;
                    ars = op->rsa, acs = op->csa, astep = op->rsa;
                }
                for (int64_t q = 0; q < np; q++) {
                    const GD_T *bp = bblk + q * NR * kc;
                    const int64_t j = jc + q * NR, ne = FC_MIN(NR, nc - q * NR);
                    /* A narrow last panel (packed transposed) goes to the dot kernel. */
                    const int dot = narrow_dot && ne <= NR / 4;
                    const GD_UKFN kern = dot ? ek->dot : ek->uk;
                    /* The tiles of the next panel's C, fetched into L2 while this panel runs:
                     * C rows are far apart, so no hardware prefetcher sees them coming, and a
                     * short k (1x1 convolutions: k = C_in) leaves too little time to hide a
                     * miss to DRAM inside the microkernel. */
                    const int pf_next = q + 1 < np && op->c_group == 0;
                    const GD_T *cnext = op->c + GD_SN(col_offset)(j + NR, op->csc, 0, 0);
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        if (pf_next)
                            for (int64_t r = 0; r < FC_MIN(MR, mc - ir); r++)
                                __builtin_prefetch(cnext + (ic + ir + r) * op->rsc, 1, 2);
                        if (dot) /* the dot kernel reads A in place, packed or not */
                            GD_SN(tile)(op, kern, kc, op->a + (ic + ir) * op->rsa + pc, op->rsa,
                                        1, bp, ic + ir, j, FC_MIN(MR, mc - ir), ne, first, last,
                                        bias_on_cols, tmp, NR);
                        else
                            GD_SN(tile)(op, kern, kc, ablk + ir * astep, ars, acs, bp, ic + ir,
                                        j, FC_MIN(MR, mc - ir), ne, first, last, bias_on_cols,
                                        tmp, NR);
                    }
                }
            }
        }
    }
}

/* A product's chunks of C for fc_parallel_for: chunk c is row block c / cn (of cm, in MR
 * tiles) and column block c % cn (of cn, in NR panels); each thread packs into its own part
 * of the workspace. */
typedef struct {
    const GD_OP *op;
    const GD_KERNEL *ek;
    int64_t cm, cn;
    char *ws;
    size_t per_thread;
    int pack_a, narrow_dot, bias_on_cols;
} GD_SN(chunk_job);

static void GD_SN(run_chunks)(void *arg, int64_t begin, int64_t end, int tid) {
    const GD_SN(chunk_job) *job = (const GD_SN(chunk_job) *)arg;
    const GD_OP *op = job->op;
    const fc_gemm_blocking *bk = &job->ek->blk;
    const int64_t tiles_m = fc_div_up(op->m, bk->mr), panels_n = fc_div_up(op->n, bk->nr);
    const int64_t kc = FC_MAX(1, FC_MIN(bk->kc, op->k));
    const int64_t n_ws = op->b_packed ? 1 : op->n; /* as sized in gemm_op_run */
    const int64_t nc = fc_div_up(FC_MIN(bk->nc, FC_MAX(n_ws, 1)), bk->nr) * bk->nr;
    char *mine = job->ws + job->per_thread * (size_t)tid;
    GD_T *bpack = (GD_T *)mine;
    GD_T *apack = (GD_T *)(mine + fc_align_up((size_t)(kc * nc) * sizeof(GD_T), FC_GEMM_ALIGN));
    for (int64_t c = begin; c < end; c++) {
        const int64_t ci = c / job->cn, cj = c % job->cn, cm = job->cm, cn = job->cn;
        const int64_t r0 = FC_MIN(op->m, tiles_m * ci / cm * bk->mr);
        const int64_t r1 = FC_MIN(op->m, tiles_m * (ci + 1) / cm * bk->mr);
        const int64_t c0 = FC_MIN(op->n, panels_n * cj / cn * bk->nr);
        const int64_t c1 = FC_MIN(op->n, panels_n * (cj + 1) / cn * bk->nr);
        if (r0 < r1 && c0 < c1)
            GD_SN(loops)(op, job->ek, r0, r1, c0, c1, bpack, apack, job->pack_a, job->narrow_dot,
                         job->bias_on_cols);
    }
}

/* Chunks of C for nt threads: the tm x tn split of choose_grid, and, when splitting columns
 * costs nothing (A read in place: each chunk packs only its own columns of B), 4 column
 * chunks per thread instead of one. Threads take chunks dynamically, so a thread that the OS
 * deschedules (another process on the core) leaves its remaining chunks to the others
 * instead of making them wait. */
static void GD_SN(choose_chunks)(const fc_gemm_blocking *bk, int64_t m, int64_t n, int64_t k,
                                 int pack_a, int nt, int64_t *cm, int64_t *cn) {
    int tm, tn;
    GD_SN(choose_grid)(bk, m, n, k, pack_a, nt, &tm, &tn);
    *cm = tm;
    *cn = tn;
    if (tn > 1 && !pack_a) *cn = FC_MAX(tn, FC_MIN(fc_div_up(n, bk->nr), 4 * (int64_t)tn));
}

/* ---- skinny products ---------------------------------------------------------------------
 * A product of at most NR/4 columns with a row-major A (a GEMV; the 1x1 convolution of a
 * 1x1 to 2x2 image, a classifier head) is memory-bound: every element of A is used n times.
 * The blocked loops would cut k into KC pieces, so every row restarts its stream (and the
 * prefetcher) k / KC times and C is read back k / KC - 1 times; here each thread runs the dot
 * kernel over whole rows, full k, on chunks of rows it takes from a shared counter.
 * Measured, 1000 x 1024 x 1 float32, 1 thread: blocked 0.15 ms, whole rows 0.05 ms. */
#define GD_SKINNY_CHUNK 32 /* rows per chunk (a multiple of the dot kernel's 2 rows) */

/* Columns of an operand as one stride when they are evenly spaced (group: see col_offset), or
 * 0 when they are not. */
static int64_t GD_SN(even_stride)(int64_t n, int64_t cs, int64_t group, int64_t gs) {
    if (group == 0 || group >= n) return n > 1 ? cs : (cs ? cs : 1);
    if (group == 1) return gs;
    return 0;
}

typedef struct {
    const GD_OP *op;
    const GD_KERNEL *ek;
    const GD_T *bt; /* B^T, n x k */
    int64_t ccs;
    int bias_on_cols;
} GD_SN(skinny_job);

/* Chunks [begin, end) of GD_SKINNY_CHUNK rows of C. */
static void GD_SN(skinny_rows)(void *arg, int64_t begin, int64_t end, int tid) {
    const GD_SN(skinny_job) *job = (const GD_SN(skinny_job) *)arg;
    const GD_OP *op = job->op;
    const int64_t m = op->m, n = op->n, k = op->k;
    (void)tid;
    for (int64_t ch = begin; ch < end; ch++) {
        const int64_t r0 = ch * GD_SKINNY_CHUNK, rows = FC_MIN(GD_SKINNY_CHUNK, m - r0);
        GD_T *c = op->c + r0 * op->rsc;
        job->ek->dot(k, op->a + r0 * op->rsa, op->rsa, 1, job->bt, op->alpha, op->beta, c,
                     op->rsc, job->ccs, rows, n);
        if (op->bias != NULL)
            for (int64_t r = 0; r < rows; r++)
                for (int64_t j = 0; j < n; j++)
                    c[r * op->rsc + j * job->ccs] +=
                        GD_SN(bias_at)(op, job->bias_on_cols, r0 + r, j);
    }
}

/* 1 when done (C written), 0 when the problem is not a skinny one for this kernel. */
static int GD_SN(skinny)(const GD_OP *op, const GD_KERNEL *ek, int nt, char *ws, size_t ws_bytes,
                         int bias_on_cols) {
    const int64_t m = op->m, n = op->n, k = op->k, NR = ek->blk.nr;
    if (ek->dot == NULL || op->b_packed != NULL || op->csa != 1 || n > NR / 4 || k < 16)
        return 0;
    const int64_t bcs = GD_SN(even_stride)(n, op->csb, op->b_group, op->b_gs);
    const int64_t ccs = GD_SN(even_stride)(n, op->csc, op->c_group, op->c_gs);
    if (bcs == 0 || ccs == 0) return 0;
    /* B^T (n x k, row j = column j of B): B itself when it is one contiguous column */
    const GD_T *bt = op->b;
    if (!(n == 1 && op->rsb == 1)) {
        if ((size_t)(n * k) * sizeof(GD_T) > ws_bytes) return 0;
        GD_T *dst = (GD_T *)ws;
        for (int64_t j = 0; j < n; j++)
            for (int64_t p = 0; p < k; p++) dst[j * k + p] = op->b[p * op->rsb + j * bcs];
        bt = dst;
    }
    GD_SN(skinny_job) job = {op, ek, bt, ccs, bias_on_cols};
    fc_parallel_for(nt, fc_div_up(m, GD_SKINNY_CHUNK), 1, GD_SN(skinny_rows), &job);
    return 1;
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
    if (op.c == NULL || (op.k > 0 && (op.a == NULL || (op.b == NULL && op.b_packed == NULL))))
        return FC_ERR_INVALID_ARGUMENT;
    const fc_isa isa = fc_active_isa();
    const GD_KERNEL *ek = &GD_TABLE[isa];
    const fc_gemm_blocking *bk = &ek->blk;
    if (bk->mr > 16 || bk->nr > 64) return FC_ERR_UNSUPPORTED;

    /* Orientation (see prefer_transposed): C^T = B^T A^T swaps the roles of A and B; a bias
     * per row of C is then a bias per column. */
    int bias_on_cols = 0;
    if (op.b_group == 0 && op.c_group == 0 && op.b_packed == NULL &&
        GD_SN(prefer_transposed)(op.rsc, op.csc)) {
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

    const int pack_a = GD_SN(wants_packed_a)(op.n, op.rsa, op.csa);
    /* A last panel of at most NR/4 columns is packed transposed for the dot kernel, which
     * reads the rows of A along k where they lie (unit column stride), also when the other
     * panels read A packed. */
    int narrow_dot = op.csa == 1 && ek->dot != NULL;
    if (op.b_packed) { /* the producer packed it as fc_<P>_gemm_narrow_t said */
        narrow_dot = op.b_narrow_t;
        if (narrow_dot && (op.csa != 1 || ek->dot == NULL)) return FC_ERR_INVALID_ARGUMENT;
    }

    int nt = nthreads < 1 ? 1 : nthreads;
    const double flops = 2.0 * (double)op.m * (double)op.n * (double)op.k;
    const double a_bytes = (double)op.m * (double)op.k * (double)sizeof(GD_T);
    nt = (int)FC_MIN((double)nt, FC_MAX(1.0, FC_MAX(flops / GD_MIN_FLOPS_PER_THREAD,
                                                     a_bytes / GD_MIN_A_BYTES_PER_THREAD)));
    /* A pre-packed B needs no B buffer: size the per-thread space as for one column. */
    const int64_t n_ws = op.b_packed ? 1 : op.n;
    if (ws == NULL || ws_bytes < GD_SN(ws_bytes)(bk, op.m, n_ws, op.k, nt))
        return FC_ERR_WORKSPACE_TOO_SMALL;
    char *base = (char *)fc_align_up((size_t)ws, FC_GEMM_ALIGN);
    if (GD_SN(skinny)(&op, ek, nt, base, ws_bytes - (size_t)(base - (char *)ws), bias_on_cols))
        return FC_OK;
    const size_t per_thread = GD_SN(ws_per_thread)(bk, op.m, n_ws, op.k);

    GD_SN(chunk_job) job = {&op, ek, 1, 1, base, per_thread, pack_a, narrow_dot, bias_on_cols};
    if (nt > 1) GD_SN(choose_chunks)(bk, op.m, op.n, op.k, pack_a, nt, &job.cm, &job.cn);
    fc_parallel_for(nt, job.cm * job.cn, 1, GD_SN(run_chunks), &job);
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
    GD_TABLE[isa].uk(k, a_packed, 1, bk->mr, b_packed, alpha, beta, c, rsc, csc, m, n);
    return FC_OK;
}

#undef GD_CAT_
#undef GD_CAT
#undef GD_FN
#undef GD_SN
#undef GD_MIN_FLOPS_PER_THREAD
#undef GD_SKINNY_CHUNK
#undef GD_MIN_A_BYTES_PER_THREAD
#undef GD_PACK_A_MIN_N
#undef GD_PACK_COST_MACS
#undef GD_L2_BYTES
#undef GD_T
#undef GD_P
#undef GD_OP
#undef GD_UKFN
#undef GD_TABLE
#undef GD_KERNEL
