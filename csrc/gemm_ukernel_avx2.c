/* AVX2 + FMA3 GEMM microkernels: fp32 6x16 and fp64 6x8 (two ymm per row of C).
 * 12 accumulators + 2 B vectors + 1 broadcast = 15 of the 16 ymm registers. */
#include <immintrin.h>

#include "gemm_internal.h"

#if FC_X86_64
FC_BEGIN_TARGET(FC_TARGET_AVX2)

#define UK_NAME fc_f32_gemm_ukernel_6x16__avx2
#define UK_T float
#define UK_VT __m256
#define UK_VLEN 8
#define UK_MR 6
#define UK_NV 2
#define UK_ZERO() _mm256_setzero_ps()
#define UK_LOAD(p) _mm256_loadu_ps(p)
#define UK_STORE(p, v) _mm256_storeu_ps((p), (v))
#define UK_BCAST(p) _mm256_broadcast_ss(p)
#define UK_SET1(x) _mm256_set1_ps(x)
#define UK_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define UK_MUL(a, b) _mm256_mul_ps((a), (b))
#include "gemm_ukernel_vec.h"

#define UK_NAME fc_f64_gemm_ukernel_6x8__avx2
#define UK_T double
#define UK_VT __m256d
#define UK_VLEN 4
#define UK_MR 6
#define UK_NV 2
#define UK_ZERO() _mm256_setzero_pd()
#define UK_LOAD(p) _mm256_loadu_pd(p)
#define UK_STORE(p, v) _mm256_storeu_pd((p), (v))
#define UK_BCAST(p) _mm256_broadcast_sd(p)
#define UK_SET1(x) _mm256_set1_pd(x)
#define UK_FMA(a, b, c) _mm256_fmadd_pd((a), (b), (c))
#define UK_MUL(a, b) _mm256_mul_pd((a), (b))
#include "gemm_ukernel_vec.h"

FC_END_TARGET
#endif
