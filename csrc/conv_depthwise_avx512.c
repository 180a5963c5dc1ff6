/* depthwise kernel, AVX-512 F (+BW/DQ/VL as fc_cpu_isa() requires): conv_depthwise_impl.h with
 * 512-bit vectors (16 floats / 8 doubles); the channel remainder through mask registers. */
#include "conv_depthwise.h"

#if FC_X86_64
#include <immintrin.h>

FC_BEGIN_TARGET(FC_TARGET_AVX512)
#include "vec_transpose_avx512.h"

#define FC_ISA avx512
#define FC_ACC FC_DW_AVX512_ACC
#define FC_NV FC_DW_AVX512_NV
#define FC_ACC3 FC_DW_AVX512_ACC3
#define FC_P FC_DW_AVX512_P
#define FC_CV FC_DW_AVX512_CV

/* Lanes t < n (0 < n <= 16). */
#define FC_DW_AVX512_MASK(n) ((((uint32_t)1 << (n)) - 1u))

#define FC_T float
#define FC_TNAME f32
#define FC_VEC __m512
#define FC_VL 16
#define FC_VMASK __mmask16
#define FC_VZERO() _mm512_setzero_ps()
#define FC_VSET1(s) _mm512_set1_ps(s)
#define FC_VLOAD(p) _mm512_loadu_ps(p)
#define FC_VSTORE(p, v) _mm512_storeu_ps(p, v)
#define FC_VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define FC_VMASK_FIRST(n) ((__mmask16)FC_DW_AVX512_MASK(n))
#define FC_VLOAD_MASK(p, m) _mm512_maskz_loadu_ps(m, p)
#define FC_VSTORE_MASK(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#define FC_VTRANSPOSE(r) fc_transpose_16x16_ps(r)
#define FC_VDEINTERLEAVE(a, b, even, odd)                                                         \
    ((even) = _mm512_permutex2var_ps(a, _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, \
                                                          22, 24, 26, 28, 30), b),                \
     (odd) = _mm512_permutex2var_ps(a, _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21,  \
                                                         23, 25, 27, 29, 31), b))
#define FC_VSTORE_MASK_FAST 1
#include "conv_depthwise_impl.h"

#define FC_T double
#define FC_TNAME f64
#define FC_VEC __m512d
#define FC_VL 8
#define FC_VMASK __mmask8
#define FC_VZERO() _mm512_setzero_pd()
#define FC_VSET1(s) _mm512_set1_pd(s)
#define FC_VLOAD(p) _mm512_loadu_pd(p)
#define FC_VSTORE(p, v) _mm512_storeu_pd(p, v)
#define FC_VFMA(a, b, c) _mm512_fmadd_pd(a, b, c)
#define FC_VMASK_FIRST(n) ((__mmask8)FC_DW_AVX512_MASK(n))
#define FC_VLOAD_MASK(p, m) _mm512_maskz_loadu_pd(m, p)
#define FC_VSTORE_MASK(p, m, v) _mm512_mask_storeu_pd(p, m, v)
#define FC_VTRANSPOSE(r) fc_transpose_8x8_pd(r)
#define FC_VDEINTERLEAVE(a, b, even, odd)                                                         \
    ((even) = _mm512_permutex2var_pd(a, _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14), b),        \
     (odd) = _mm512_permutex2var_pd(a, _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15), b))
#define FC_VSTORE_MASK_FAST 1
#include "conv_depthwise_impl.h"

#undef FC_DW_AVX512_MASK
FC_END_TARGET
#endif /* FC_X86_64 */
