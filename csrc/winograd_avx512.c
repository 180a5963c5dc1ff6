/* Winograd kernel, avx512: winograd_tiles.h with 512-bit vectors (16 floats / 8 doubles). */
#include "winograd.h"

#if FC_X86_64
#include <immintrin.h>

FC_BEGIN_TARGET(FC_TARGET_AVX512)

#define FC_ISA avx512
#define FC_SFENCE() _mm_sfence()

#define FC_T float
#define FC_TNAME f32
#define FC_VEC __m512
#define FC_VL 16
#define FC_VZERO() _mm512_setzero_ps()
#define FC_VSET1(s) _mm512_set1_ps(s)
#define FC_VLOAD(p) _mm512_loadu_ps(p)
#define FC_VSTORE(p, v) _mm512_storeu_ps(p, v)
#define FC_VADD(a, b) _mm512_add_ps(a, b)
#define FC_VSUB(a, b) _mm512_sub_ps(a, b)
#define FC_VMUL(a, b) _mm512_mul_ps(a, b)
#define FC_VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define FC_VSTREAM(p, v) _mm512_stream_ps(p, v)
#include "winograd_tiles.h"

#define FC_T double
#define FC_TNAME f64
#define FC_VEC __m512d
#define FC_VL 8
#define FC_VZERO() _mm512_setzero_pd()
#define FC_VSET1(s) _mm512_set1_pd(s)
#define FC_VLOAD(p) _mm512_loadu_pd(p)
#define FC_VSTORE(p, v) _mm512_storeu_pd(p, v)
#define FC_VADD(a, b) _mm512_add_pd(a, b)
#define FC_VSUB(a, b) _mm512_sub_pd(a, b)
#define FC_VMUL(a, b) _mm512_mul_pd(a, b)
#define FC_VFMA(a, b, c) _mm512_fmadd_pd(a, b, c)
#define FC_VSTREAM(p, v) _mm512_stream_pd(p, v)
#include "winograd_tiles.h"

FC_END_TARGET
#endif /* FC_X86_64 */
