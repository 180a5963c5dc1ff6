/* Template of a narrow-edge GEMM kernel ("dot" kernel), instantiated per (ISA, dtype) by
 * gemm_ukernel_<isa>.c inside that ISA's target region; no include guard.
 *
 * Same signature and contract as a microkernel (gemm_internal.h) for an m x n tile with
 * n <= DK_NMAX, but A must have unit column stride (csa == 1: a row-major A read in place) and
 * the B panel is packed transposed: b[j * k + p]. It vectorises along k (dot products of rows
 * of A with columns of B), so a last panel of 1..NR/4 columns (n = 49 = 3 x 16 + 1) costs its
 * real work instead of a whole NR-wide tile. Two rows at a time (four for n <= 2) share the B
 * loads; with n <= 2 two partial sums per row (even / odd vector of k) keep enough FMA chains
 * in flight.
 *
 * The includer defines DK_NAME, DK_T, DK_VT, DK_VLEN, DK_NMAX, DK_ZERO(), DK_LOAD(p),
 * DK_FMA(a, b, c), DK_HSUM(v) (sum of the lanes); this file undefines them. */

#define DK_CAT_(x, y) x##y
#define DK_CAT(x, y) DK_CAT_(x, y)
#define DK_INNER DK_CAT(DK_NAME, _n)

static inline __attribute__((always_inline)) void DK_INNER(
    int64_t k, const DK_T *restrict a, int64_t rsa, const DK_T *restrict b, DK_T alpha,
    DK_T beta, DK_T *restrict c, int64_t rsc, int64_t csc, int64_t m, const int N) {
    const int S = N <= 2 ? 2 : 1; /* partial sums per (row, column) */
    /* rows at a time: 4 for one or two columns (four A streams in flight: a GEMV is
     * memory-bound, and two streams left half the L3 bandwidth unused), else 2 */
    const int R = N <= 2 ? 4 : 2;
    const int64_t kv = k / (DK_VLEN * S) * (DK_VLEN * S);
    for (int64_t i = 0; i < m; i += R) {
        const DK_T *ar[4];
        for (int r = 0; r < R; r++) ar[r] = a + (i + r < m ? i + r : m - 1) * rsa;
        DK_VT acc[4][2][DK_NMAX]; /* [row][partial][column] */
        for (int r = 0; r < R; r++)
            for (int s = 0; s < 2; s++)
                for (int j = 0; j < DK_NMAX; j++) acc[r][s][j] = DK_ZERO();
        for (int64_t p = 0; p < kv; p += DK_VLEN * S) {
            for (int s = 0; s < S; s++) {
                const int64_t pp = p + s * DK_VLEN;
                DK_VT x[4];
                for (int r = 0; r < R; r++) x[r] = DK_LOAD(ar[r] + pp);
                for (int j = 0; j < N; j++) {
                    const DK_VT y = DK_LOAD(b + j * k + pp);
                    for (int r = 0; r < R; r++) acc[r][s][j] = DK_FMA(x[r], y, acc[r][s][j]);
                }
            }
        }
        for (int r = 0; r < R && i + r < m; r++) {
            for (int j = 0; j < N; j++) {
                DK_T sum = DK_HSUM(acc[r][0][j]);
                if (S == 2) sum += DK_HSUM(acc[r][1][j]);
                for (int64_t p = kv; p < k; p++) sum += ar[r][p] * b[j * k + p];
                DK_T *cp = c + (i + r) * rsc + j * csc;
                *cp = beta == 0 ? alpha * sum : alpha * sum + beta * *cp;
            }
        }
    }
}

void DK_NAME(int64_t k, const DK_T *restrict a, int64_t rsa, int64_t csa, const DK_T *restrict b,
             DK_T alpha, DK_T beta, DK_T *restrict c, int64_t rsc, int64_t csc, int64_t m,
             int64_t n) {
    (void)csa; /* 1 by contract */
    switch (n) {
#if DK_NMAX >= 1
    case 1: DK_INNER(k, a, rsa, b, alpha, beta, c, rsc, csc, m, 1); break;
#endif
#if DK_NMAX >= 2
    case 2: DK_INNER(k, a, rsa, b, alpha, beta, c, rsc, csc, m, 2); break;
#endif
#if DK_NMAX >= 4
    case 3: DK_INNER(k, a, rsa, b, alpha, beta, c, rsc, csc, m, 3); break;
    case 4: DK_INNER(k, a, rsa, b, alpha, beta, c, rsc, csc, m, 4); break;
#endif
#if DK_NMAX >= 8
    case 5: DK_INNER(k, a, rsa, b, alpha, beta, c, rsc, csc, m, 5); break;
    case 6: DK_INNER(k, a, rsa, b, alpha, beta, c, rsc, csc, m, 6); break;
    case 7: DK_INNER(k, a, rsa, b, alpha, beta, c, rsc, csc, m, 7); break;
    case 8: DK_INNER(k, a, rsa, b, alpha, beta, c, rsc, csc, m, 8); break;
#endif
    default: break;
    }
}

#undef DK_CAT_
#undef DK_CAT
#undef DK_INNER
#undef DK_NAME
#undef DK_T
#undef DK_VT
#undef DK_VLEN
#undef DK_NMAX
#undef DK_ZERO
#undef DK_LOAD
#undef DK_FMA
#undef DK_HSUM
