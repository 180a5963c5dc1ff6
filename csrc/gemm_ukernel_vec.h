/* Template of a broadcast-FMA GEMM microkernel, instantiated once per (ISA, dtype) by
 * gemm_ukernel_<isa>.c inside that ISA's target region. No include guard: included repeatedly.
 *
 * The includer defines:
 *   UK_NAME            function name, fc_<dtype>_gemm_ukernel_<MR>x<NR>__<isa>
 *   UK_T, UK_VT        element and vector types;  UK_VLEN  elements per vector
 *   UK_MR, UK_NV       rows of the tile, vectors per row (NR = UK_NV * UK_VLEN)
 *   UK_ASM_FULL_TILE(mode) (optional) a full tile (m == MR) in inline assembly: computes
 *                      from k, a, rsa, csa, b and either stores C itself and returns
 *                      (mode 1: beta 0, 2: beta 1) or fills acc[][] (see gemm_ukernel_avx2.c)
 *   UK_ZERO() UK_LOAD(p) UK_STORE(p, v) UK_BCAST(p) UK_SET1(x) UK_FMA(a, b, c) (a*b+c)
 *   UK_MUL(a, b)
 * and this file undefines them all at its end.
 *
 * Shape: MR x NV accumulators stay in registers for the whole k loop (the loops below all have
 * constant trip counts and are fully unrolled; GCC and Clang then keep acc[][] in registers).
 * Each k step loads NV vectors of the packed B row and, per row of A, broadcasts one value and
 * issues NV FMAs: MR * NV independent FMA chains hide the FMA latency (4 cycles x 2 pipes
 * needs >= 8 chains; 6x16 AVX2 has 12, 14x32 AVX-512 has 28). The packed A stream comes from
 * L2 and is prefetched ahead; the packed B micro-panel stays in L1 across calls. */
#define UK_NR (UK_NV * UK_VLEN)
#define UK_BS UK_NR

/* One k step: NV vector loads of the B row, then per row of A one broadcast and NV FMAs.
 * ROW(i) is the element offset of row i of A from the current column. */
#define UK_STEP(P, ROW)                                                                       \
    do {                                                                                      \
        const UK_T *ap_ = a + (P) * csa, *bp_ = b + (P) * UK_BS;                              \
        UK_VT bv_[UK_NV];                                                                     \
        _Pragma("GCC unroll 8") for (int v = 0; v < UK_NV; v++) bv_[v] =                      \
            UK_LOAD(bp_ + v * UK_VLEN);                                                       \
        _Pragma("GCC unroll 32") for (int i = 0; i < UK_MR; i++) {                            \
            const UK_VT ai_ = UK_BCAST(ap_ + ROW(i));                                         \
            _Pragma("GCC unroll 8") for (int v = 0; v < UK_NV; v++) acc[i][v] =               \
                UK_FMA(ai_, bv_[v], acc[i][v]);                                               \
        }                                                                                     \
    } while (0)

#define UK_KLOOP(ROW)                                                                         \
    do {                                                                                      \
        int64_t p_ = 0;                                                                       \
        for (; p_ + 4 <= k; p_ += 4) {                                                        \
            UK_STEP(p_, ROW);                                                                 \
            UK_STEP(p_ + 1, ROW);                                                             \
            UK_STEP(p_ + 2, ROW);                                                             \
            UK_STEP(p_ + 3, ROW);                                                             \
        }                                                                                     \
        for (; p_ < k; p_++) UK_STEP(p_, ROW);                                                \
    } while (0)

#define UK_ROW_FULL(i) ((i) * rsa)
#define UK_ROW_CLAMPED(i) (((i) < m ? (i) : m - 1) * rsa)

void UK_NAME(int64_t k, const UK_T *restrict a, int64_t rsa, int64_t csa, const UK_T *restrict b,
             UK_T alpha, UK_T beta, UK_T *restrict c, int64_t rsc, int64_t csc, int64_t m,
             int64_t n) {
    UK_VT acc[UK_MR][UK_NV];
#pragma GCC unroll 32
    for (int i = 0; i < UK_MR; i++)
#pragma GCC unroll 8
        for (int v = 0; v < UK_NV; v++) acc[i][v] = UK_ZERO();

    /* Warm the C tile while the k loop runs (the driver has already asked for it in L2 one
     * panel ahead; this brings its first line per row to L1). */
    for (int64_t i = 0; i < m; i++) __builtin_prefetch(c + i * rsc, 1, 3);

    /* Row i of A at a + i * rsa, advancing csa per k step. In an edge tile rows past m repeat
     * row m - 1 (their results are never stored), so an unpacked A needs no padding; the full
     * tile keeps the plain i * rsa addressing, which needs fewer registers. */
    if (m == UK_MR) {
#ifdef UK_ASM_FULL_TILE
        /* 1 / 2: the assembly stores the tile itself (and returns); 0: acc[][] comes back */
        UK_ASM_FULL_TILE(alpha == 1 && n == UK_NR && csc == 1
                             ? (beta == 0 ? 1 : (beta == 1 ? 2 : 0))
                             : 0);
#else
        UK_KLOOP(UK_ROW_FULL);
#endif
    }
    else
        UK_KLOOP(UK_ROW_CLAMPED);

    if (alpha != (UK_T)1) {
        const UK_VT va = UK_SET1(alpha);
#pragma GCC unroll 32
        for (int i = 0; i < UK_MR; i++)
#pragma GCC unroll 8
            for (int v = 0; v < UK_NV; v++) acc[i][v] = UK_MUL(va, acc[i][v]);
    }

    if (n == UK_NR && csc == 1) {
        /* Rows of C are contiguous and the tile is full width: vector stores, row by row. */
        if (beta == 0) {
#pragma GCC unroll 32
            for (int i = 0; i < UK_MR; i++)
                if (i < m)
#pragma GCC unroll 8
                    for (int v = 0; v < UK_NV; v++) UK_STORE(c + i * rsc + v * UK_VLEN, acc[i][v]);
        } else {
            const UK_VT vb = UK_SET1(beta);
#pragma GCC unroll 32
            for (int i = 0; i < UK_MR; i++)
                if (i < m)
#pragma GCC unroll 8
                    for (int v = 0; v < UK_NV; v++) {
                        UK_T *cp = c + i * rsc + v * UK_VLEN;
                        UK_STORE(cp, UK_FMA(vb, UK_LOAD(cp), acc[i][v]));
                    }
        }
        return;
    }
    /* Edge tile or strided C: through a tile on the stack, element by element. */
    UK_T t[UK_MR * UK_NR] __attribute__((aligned(64)));
#pragma GCC unroll 32
    for (int i = 0; i < UK_MR; i++)
#pragma GCC unroll 8
        for (int v = 0; v < UK_NV; v++) UK_STORE(t + i * UK_NR + v * UK_VLEN, acc[i][v]);
    if (rsc == 1) { /* column-major C: walk down the columns */
        for (int64_t j = 0; j < n; j++)
            for (int64_t i = 0; i < m; i++) {
                UK_T *cp = c + i + j * csc;
                *cp = beta == 0 ? t[i * UK_NR + j] : beta * *cp + t[i * UK_NR + j];
            }
    } else {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                UK_T *cp = c + i * rsc + j * csc;
                *cp = beta == 0 ? t[i * UK_NR + j] : beta * *cp + t[i * UK_NR + j];
            }
    }
}

#undef UK_NR
#undef UK_STEP
#undef UK_KLOOP
#undef UK_ROW_FULL
#undef UK_ROW_CLAMPED
#undef UK_BS
#undef UK_ASM_FULL_TILE
#undef UK_NAME
#undef UK_T
#undef UK_VT
#undef UK_VLEN
#undef UK_MR
#undef UK_NV
#undef UK_ZERO
#undef UK_LOAD
#undef UK_STORE
#undef UK_BCAST
#undef UK_SET1
#undef UK_FMA
#undef UK_MUL
