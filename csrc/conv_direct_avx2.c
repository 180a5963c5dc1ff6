/* direct kernel, AVX2 + FMA3: conv_direct_impl.h with 256-bit vectors (8 floats / 4 doubles),
 * masked borders through vmaskmov. */
#include "conv_direct.h"

#if FC_X86_64
#include <immintrin.h>

FC_BEGIN_TARGET(FC_TARGET_AVX2)
#include "vec_transpose_avx2.h"

/* Lanes lo <= t < hi of 32- and 64-bit lane masks (0 <= lo, hi <= lanes). */
static inline __m256i fc_avx2_mask_ps(int lo, int hi) {
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_and_si256(_mm256_cmpgt_epi32(iota, _mm256_set1_epi32(lo - 1)),
                            _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), iota));
}
static inline __m256i fc_avx2_mask_pd(int lo, int hi) {
    const __m256i iota = _mm256_setr_epi64x(0, 1, 2, 3);
    return _mm256_and_si256(_mm256_cmpgt_epi64(iota, _mm256_set1_epi64x(lo - 1)),
                            _mm256_cmpgt_epi64(_mm256_set1_epi64x(hi), iota));
}

#define FC_ISA avx2
#define FC_KB FC_DIRECT_AVX2_KB
#define FC_NV FC_DIRECT_AVX2_NV
#define FC_BKB FC_DIRECT_AVX2_BKB
#define FC_BNW FC_DIRECT_AVX2_BNW

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
#define FC_VMASK_RANGE(lo, hi) fc_avx2_mask_ps(lo, hi)
#define FC_VLOAD_MASK(p, m) _mm256_maskload_ps(p, m)
#define FC_VSTORE_MASK(p, m, v) _mm256_maskstore_ps(p, m, v)
#define FC_VSTORE_MASK_FAST 0 /* vmaskmov stores are slow on AMD Zen */
#define FC_VTRANSPOSE(r) fc_transpose_8x8_ps(r)
#include "conv_direct_impl.h"

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
#define FC_VMASK_RANGE(lo, hi) fc_avx2_mask_pd(lo, hi)
#define FC_VLOAD_MASK(p, m) _mm256_maskload_pd(p, m)
#define FC_VSTORE_MASK(p, m, v) _mm256_maskstore_pd(p, m, v)
#define FC_VSTORE_MASK_FAST 0
#define FC_VTRANSPOSE(r) fc_transpose_4x4_pd(r)
#include "conv_direct_impl.h"

FC_END_TARGET
#endif /* FC_X86_64 */
