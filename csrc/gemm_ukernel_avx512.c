/* AVX-512F GEMM microkernels: fp32 14x32 and fp64 14x16 (two zmm per row of C).
 * 28 accumulators + 2 B vectors + 1 broadcast = 31 of the 32 zmm registers. Same template as
 * the AVX2 kernels (gemm_ukernel_vec.h), which the tests exercise on every AVX2 machine.
 * Dot kernels for narrow last panels as in gemm_ukernel_avx2.c: fp32 up to 8 columns, fp64
 * up to 4. */
#include <immintrin.h>

#include "gemm_internal.h"

#if FC_X86_64
FC_BEGIN_TARGET(FC_TARGET_AVX512)

#define UK_NAME fc_f32_gemm_ukernel_14x32__avx512
#define UK_T float
#define UK_VT __m512
#define UK_VLEN 16
#define UK_MR 14
#define UK_NV 2
#define UK_ZERO() _mm512_setzero_ps()
#define UK_LOAD(p) _mm512_loadu_ps(p)
#define UK_STORE(p, v) _mm512_storeu_ps((p), (v))
#define UK_BCAST(p) _mm512_set1_ps(*(p))
#define UK_SET1(x) _mm512_set1_ps(x)
#define UK_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define UK_MUL(a, b) _mm512_mul_ps((a), (b))
#include "gemm_ukernel_vec.h"

#define UK_NAME fc_f64_gemm_ukernel_14x16__avx512
#define UK_T double
#define UK_VT __m512d
#define UK_VLEN 8
#define UK_MR 14
#define UK_NV 2
#define UK_ZERO() _mm512_setzero_pd()
#define UK_LOAD(p) _mm512_loadu_pd(p)
#define UK_STORE(p, v) _mm512_storeu_pd((p), (v))
#define UK_BCAST(p) _mm512_set1_pd(*(p))
#define UK_SET1(x) _mm512_set1_pd(x)
#define UK_FMA(a, b, c) _mm512_fmadd_pd((a), (b), (c))
#define UK_MUL(a, b) _mm512_mul_pd((a), (b))
#include "gemm_ukernel_vec.h"





#define DK_NAME fc_f32_gemm_dot_14x8__avx512
#define DK_T float
#define DK_VT __m512
#define DK_VLEN 16
#define DK_NMAX 8
#define DK_ZERO() _mm512_setzero_ps()
#define DK_LOAD(p) _mm512_loadu_ps(p)
#define DK_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define DK_HSUM(v) _mm512_reduce_add_ps(v)
#include "gemm_dot_vec.h"

#define DK_NAME fc_f64_gemm_dot_14x4__avx512
#define DK_T double
#define DK_VT __m512d
#define DK_VLEN 8
#define DK_NMAX 4
#define DK_ZERO() _mm512_setzero_pd()
#define DK_LOAD(p) _mm512_loadu_pd(p)
#define DK_FMA(a, b, c) _mm512_fmadd_pd((a), (b), (c))
#define DK_HSUM(v) _mm512_reduce_add_pd(v)
#include "gemm_dot_vec.h"

FC_END_TARGET
#endif
