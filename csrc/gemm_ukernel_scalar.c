/* Portable GEMM microkernels: fp32 4x8 and fp64 4x4 in plain C. The accumulator tile is a
 * local array the compiler keeps in (baseline SSE2) registers; correctness first, speed is
 * whatever the compiler makes of it. */
#include "gemm_internal.h"

#define DEFINE_SCALAR_UKERNEL(NAME, T, MR, NR)                                                  \
    void NAME(int64_t k, const T *restrict a, int64_t rsa, int64_t csa, const T *restrict b,    \
              T alpha, T beta, T *restrict c, int64_t rsc, int64_t csc, int64_t m, int64_t n) { \
        T acc[MR][NR];                                                                          \
        for (int i = 0; i < MR; i++)                                                            \
            for (int j = 0; j < NR; j++) acc[i][j] = 0;                                         \
        for (int64_t p = 0; p < k; p++) {                                                       \
            const T *ap = a + p * csa, *bp = b + p * NR;                                        \
            for (int i = 0; i < MR; i++) {                                                      \
                const T ai = ap[(i < m ? i : m - 1) * rsa];                                     \
                for (int j = 0; j < NR; j++) acc[i][j] += ai * bp[j];                           \
            }                                                                                   \
        }                                                                                       \
        for (int64_t i = 0; i < m; i++)                                                         \
            for (int64_t j = 0; j < n; j++) {                                                   \
                T *cp = c + i * rsc + j * csc;                                                  \
                *cp = beta == 0 ? alpha * acc[i][j] : alpha * acc[i][j] + beta * *cp;           \
            }                                                                                   \
    }

DEFINE_SCALAR_UKERNEL(fc_f32_gemm_ukernel_4x8__scalar, float, 4, 8)
DEFINE_SCALAR_UKERNEL(fc_f64_gemm_ukernel_4x4__scalar, double, 4, 4)
