/* AVX2 + FMA3 GEMM microkernels: fp32 6x16 and fp64 6x8 (two ymm per row of C).
 * 12 accumulators + 2 B vectors + 1 broadcast = 15 of the 16 ymm registers.
 * Dot kernels (gemm_dot_vec.h) for a last panel of at most NR/4 columns of a small n
 * (n = 49 = 3 x 16 + 1): fp32 up to 4 columns, fp64 up to 2. */
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





static inline float fc_hsum256_ps(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

static inline double fc_hsum256_pd(__m256d v) {
    __m128d x = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(x, _mm_unpackhi_pd(x, x)));
}

#define DK_NAME fc_f32_gemm_dot_6x4__avx2
#define DK_T float
#define DK_VT __m256
#define DK_VLEN 8
#define DK_NMAX 4
#define DK_ZERO() _mm256_setzero_ps()
#define DK_LOAD(p) _mm256_loadu_ps(p)
#define DK_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define DK_HSUM(v) fc_hsum256_ps(v)
#include "gemm_dot_vec.h"

#define DK_NAME fc_f64_gemm_dot_6x2__avx2
#define DK_T double
#define DK_VT __m256d
#define DK_VLEN 4
#define DK_NMAX 2
#define DK_ZERO() _mm256_setzero_pd()
#define DK_LOAD(p) _mm256_loadu_pd(p)
#define DK_FMA(a, b, c) _mm256_fmadd_pd((a), (b), (c))
#define DK_HSUM(v) fc_hsum256_pd(v)
#include "gemm_dot_vec.h"

FC_END_TARGET
#endif
