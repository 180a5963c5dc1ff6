/* depthwise kernel, AVX2 + FMA3: conv_depthwise_impl.h with 256-bit vectors (8 floats /
 * 4 doubles); the channel remainder of the NHWC path through vmaskmov. */
#include "conv_depthwise.h"

#if FC_X86_64
#include <immintrin.h>

FC_BEGIN_TARGET(FC_TARGET_AVX2)
#include "vec_transpose_avx2.h"

/* Lanes t < n of 32- and 64-bit lane masks. */
static inline __m256i fc_dw_avx2_mask_ps(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline __m256i fc_dw_avx2_mask_pd(int64_t n) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
}

#define FC_ISA avx2
#define FC_ACC FC_DW_AVX2_ACC
#define FC_NV FC_DW_AVX2_NV
#define FC_ACC3 FC_DW_AVX2_ACC3
#define FC_P FC_DW_AVX2_P
#define FC_CV FC_DW_AVX2_CV

#define FC_T float
#define FC_TNAME f32
#define FC_VEC __m256
#define FC_VL 8
#define FC_VMASK __m256i
#define FC_VZERO() _mm256_setzero_ps()
#define FC_VSET1(s) _mm256_set1_ps(s)
#define FC_VLOAD(p) _mm256_loadu_ps(p)
#define FC_VSTORE(p, v) _mm256_storeu_ps(p, v)
#define FC_VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define FC_VMASK_FIRST(n) fc_dw_avx2_mask_ps(n)
#define FC_VLOAD_MASK(p, m) _mm256_maskload_ps(p, m)
#define FC_VSTORE_MASK(p, m, v) _mm256_maskstore_ps(p, m, v)
#define FC_VTRANSPOSE(r) fc_transpose_8x8_ps(r)
/* shuffle_ps picks lanes 0, 2 (1, 3) of each 128-bit half of a and b: a0 a2 b0 b2 | a4 a6 b4 b6;
 * the 64-bit permute puts the halves in order */
#define FC_VDEINTERLEAVE(a, b, even, odd)                                                         \
    ((even) = _mm256_castpd_ps(_mm256_permute4x64_pd(                                             \
         _mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))), _MM_SHUFFLE(3, 1, 2, 0))), \
     (odd) = _mm256_castpd_ps(_mm256_permute4x64_pd(                                              \
         _mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))), _MM_SHUFFLE(3, 1, 2, 0))))
#define FC_VSTORE_MASK_FAST 0
#include "conv_depthwise_impl.h"

#define FC_T double
#define FC_TNAME f64
#define FC_VEC __m256d
#define FC_VL 4
#define FC_VMASK __m256i
#define FC_VZERO() _mm256_setzero_pd()
#define FC_VSET1(s) _mm256_set1_pd(s)
#define FC_VLOAD(p) _mm256_loadu_pd(p)
#define FC_VSTORE(p, v) _mm256_storeu_pd(p, v)
#define FC_VFMA(a, b, c) _mm256_fmadd_pd(a, b, c)
#define FC_VMASK_FIRST(n) fc_dw_avx2_mask_pd(n)
#define FC_VLOAD_MASK(p, m) _mm256_maskload_pd(p, m)
#define FC_VSTORE_MASK(p, m, v) _mm256_maskstore_pd(p, m, v)
#define FC_VTRANSPOSE(r) fc_transpose_4x4_pd(r)
#define FC_VDEINTERLEAVE(a, b, even, odd)                                                         \
    ((even) = _mm256_permute4x64_pd(_mm256_unpacklo_pd(a, b), _MM_SHUFFLE(3, 1, 2, 0)),          \
     (odd) = _mm256_permute4x64_pd(_mm256_unpackhi_pd(a, b), _MM_SHUFFLE(3, 1, 2, 0)))
#define FC_VSTORE_MASK_FAST 0
#include "conv_depthwise_impl.h"

FC_END_TARGET
#endif /* FC_X86_64 */
