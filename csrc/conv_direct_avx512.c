/* direct kernel, AVX-512 F (+BW/DQ/VL as fc_cpu_isa() requires): conv_direct_impl.h with 512-bit
 * vectors (16 floats / 8 doubles), masked borders through zero-masking loads. */
#include "conv_direct.h"

#if FC_X86_64
#include <immintrin.h>

FC_BEGIN_TARGET(FC_TARGET_AVX512)
#include "vec_transpose_avx512.h"

#define FC_ISA avx512
#define FC_KB FC_DIRECT_AVX512_KB
#define FC_NV FC_DIRECT_AVX512_NV
#define FC_BKB FC_DIRECT_AVX512_BKB
#define FC_BNW FC_DIRECT_AVX512_BNW

/* Lanes lo <= t < hi (0 <= lo, hi <= lanes <= 16): bits below hi and not below lo. */
#define FC_AVX512_MASK(lo, hi) ((((uint32_t)1 << (hi)) - 1u) & ~(((uint32_t)1 << (lo)) - 1u))

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
#define FC_VMASK_RANGE(lo, hi) ((__mmask16)FC_AVX512_MASK(lo, hi))
#define FC_VLOAD_MASK(p, m) _mm512_maskz_loadu_ps(m, p)
#define FC_VSTORE_MASK(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#define FC_VSTORE_MASK_FAST 1
#define FC_VTRANSPOSE(r) fc_transpose_16x16_ps(r)
#include "conv_direct_impl.h"

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
#define FC_VMASK_RANGE(lo, hi) ((__mmask8)FC_AVX512_MASK(lo, hi))
#define FC_VLOAD_MASK(p, m) _mm512_maskz_loadu_pd(m, p)
#define FC_VSTORE_MASK(p, m, v) _mm512_mask_storeu_pd(p, m, v)
#define FC_VSTORE_MASK_FAST 1
#define FC_VTRANSPOSE(r) fc_transpose_8x8_pd(r)
#include "conv_direct_impl.h"

#undef FC_AVX512_MASK
FC_END_TARGET
#endif /* FC_X86_64 */
