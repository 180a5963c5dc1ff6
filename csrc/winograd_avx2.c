/* Winograd kernel, avx2: winograd_impl.h with 256-bit vectors (8 floats / 4 doubles). */
#include "winograd.h"

#if FC_X86_64
#include <immintrin.h>

FC_BEGIN_TARGET(FC_TARGET_AVX2)

#define FC_ISA avx2

#define FC_T float
#define FC_TNAME f32
#define FC_VEC __m256
#define FC_VL 8
#define FC_VZERO() _mm256_setzero_ps()
#define FC_VSET1(s) _mm256_set1_ps(s)
#define FC_VLOAD(p) _mm256_loadu_ps(p)
#define FC_VSTORE(p, v) _mm256_storeu_ps(p, v)
#define FC_VADD(a, b) _mm256_add_ps(a, b)
#define FC_VSUB(a, b) _mm256_sub_ps(a, b)
#define FC_VMUL(a, b) _mm256_mul_ps(a, b)
#define FC_VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#include "winograd_impl.h"

#define FC_T double
#define FC_TNAME f64
#define FC_VEC __m256d
#define FC_VL 4
#define FC_VZERO() _mm256_setzero_pd()
#define FC_VSET1(s) _mm256_set1_pd(s)
#define FC_VLOAD(p) _mm256_loadu_pd(p)
#define FC_VSTORE(p, v) _mm256_storeu_pd(p, v)
#define FC_VADD(a, b) _mm256_add_pd(a, b)
#define FC_VSUB(a, b) _mm256_sub_pd(a, b)
#define FC_VMUL(a, b) _mm256_mul_pd(a, b)
#define FC_VFMA(a, b, c) _mm256_fmadd_pd(a, b, c)
#include "winograd_impl.h"

FC_END_TARGET
#endif /* FC_X86_64 */
