/* Winograd kernel, avx2: winograd_tiles.h with 256-bit vectors (8 floats / 4 doubles). */
#include "gemm_internal.h"
#include "winograd.h"

#if FC_X86_64
#include <immintrin.h>

FC_BEGIN_TARGET(FC_TARGET_AVX2)

#define FC_ISA avx2
#define FC_SFENCE() _mm_sfence()

/* NCHW fast paths of the float32 variant (see FC_WG_GATHER_ROWS / FC_WG_SCATTER_ROWS /
 * FC_WG_GATHER_FILTERS in winograd_impl.h): 8x8 and 8x4 register transposes instead of
 * per-element copies. */
static inline void fc_wg_transpose8_ps(__m256 r[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
}

/* dv[a * i + k] (lane l) := x_l[i * xs2 + k] for a rows i and columns k < a of 8 channels
 * x_l = x + l * xs1 (a: the input tile side, 4 or 6); reads 8 columns of every row (the caller
 * checks they exist). */
static inline void fc_wg_gather_rows_avx2(__m256 *dv, const float *x, int64_t xs1, int64_t xs2,
                                          int a) {
    for (int i = 0; i < a; i++) {
        __m256 r[8];
        for (int l = 0; l < 8; l++) r[l] = _mm256_loadu_ps(x + l * xs1 + i * xs2);
        fc_wg_transpose8_ps(r);
        for (int k = 0; k < a; k++) dv[a * i + k] = r[k];
    }
}

/* gv[j] (lane l) := w[l * ws0 + j] for the 9 taps j of 8 contiguous 3x3 filters ws0 apart:
 * taps 0-7 by an 8x8 transpose of one load per filter, tap 8 by a gather (the kernel
 * transform's scalar copies cost a store-forwarding stall per vector). */
static inline void fc_wg_gather_filters_avx2(__m256 *gv, const float *w, int64_t ws0) {
    __m256 r[8];
    for (int l = 0; l < 8; l++) r[l] = _mm256_loadu_ps(w + l * ws0);
    fc_wg_transpose8_ps(r);
    for (int j = 0; j < 8; j++) gv[j] = r[j];
    gv[8] = _mm256_set_ps(w[7 * ws0 + 8], w[6 * ws0 + 8], w[5 * ws0 + 8], w[4 * ws0 + 8],
                          w[3 * ws0 + 8], w[2 * ws0 + 8], w[ws0 + 8], w[8]);
}

/* fc_wg_scatter_rows_avx2 for m = 4: 4-float row pieces */
static inline void fc_wg_scatter_rows4_avx2(const __m256 *o, float *y, int64_t ys1,
                                            int64_t ys2) {
    for (int r = 0; r < 4; r++) {
        const __m256 a = o[4 * r], b = o[4 * r + 1], c = o[4 * r + 2], d = o[4 * r + 3];
        const __m256 ab0 = _mm256_unpacklo_ps(a, b), ab1 = _mm256_unpackhi_ps(a, b);
        const __m256 cd0 = _mm256_unpacklo_ps(c, d), cd1 = _mm256_unpackhi_ps(c, d);
        /* lanes (l, l + 4) of each 128-bit half: q0 holds channels 0 and 4, q1 1 and 5, ... */
        const __m256 q0 = _mm256_shuffle_ps(ab0, cd0, _MM_SHUFFLE(1, 0, 1, 0));
        const __m256 q1 = _mm256_shuffle_ps(ab0, cd0, _MM_SHUFFLE(3, 2, 3, 2));
        const __m256 q2 = _mm256_shuffle_ps(ab1, cd1, _MM_SHUFFLE(1, 0, 1, 0));
        const __m256 q3 = _mm256_shuffle_ps(ab1, cd1, _MM_SHUFFLE(3, 2, 3, 2));
        float *yr = y + r * ys2;
        _mm_storeu_ps(yr, _mm256_castps256_ps128(q0));
        _mm_storeu_ps(yr + ys1, _mm256_castps256_ps128(q1));
        _mm_storeu_ps(yr + 2 * ys1, _mm256_castps256_ps128(q2));
        _mm_storeu_ps(yr + 3 * ys1, _mm256_castps256_ps128(q3));
        _mm_storeu_ps(yr + 4 * ys1, _mm256_extractf128_ps(q0, 1));
        _mm_storeu_ps(yr + 5 * ys1, _mm256_extractf128_ps(q1, 1));
        _mm_storeu_ps(yr + 6 * ys1, _mm256_extractf128_ps(q2, 1));
        _mm_storeu_ps(yr + 7 * ys1, _mm256_extractf128_ps(q3, 1));
    }
}

/* ... for m = 2: 2-float row pieces */
static inline void fc_wg_scatter_rows2_avx2(const __m256 *o, float *y, int64_t ys1,
                                            int64_t ys2) {
    for (int r = 0; r < 2; r++) {
        /* (a_l, b_l) pairs: lo holds channels 0, 1 | 4, 5, hi 2, 3 | 6, 7 */
        const __m256 lo = _mm256_unpacklo_ps(o[2 * r], o[2 * r + 1]);
        const __m256 hi = _mm256_unpackhi_ps(o[2 * r], o[2 * r + 1]);
        const __m128 q[4] = {_mm256_castps256_ps128(lo), _mm256_castps256_ps128(hi),
                             _mm256_extractf128_ps(lo, 1), _mm256_extractf128_ps(hi, 1)};
        float *yr = y + r * ys2;
        for (int j = 0; j < 4; j++) {
            _mm_storel_pi((__m64 *)(yr + 2 * j * ys1), q[j]);
            _mm_storeh_pi((__m64 *)(yr + (2 * j + 1) * ys1), q[j]);
        }
    }
}

/* y_l[r * ys2 + s] := lane l of o[m * r + s] for the m x m tile (m = 2 or 4) of 8 channels
 * y_l = y + l * ys1 (unit stride along s). */
static inline void fc_wg_scatter_rows_avx2(const __m256 *o, float *y, int64_t ys1, int64_t ys2,
                                           int m) {
    if (m == 4)
        fc_wg_scatter_rows4_avx2(o, y, ys1, ys2);
    else
        fc_wg_scatter_rows2_avx2(o, y, ys1, ys2);
}

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
#define FC_VSTREAM(p, v) _mm256_stream_ps(p, v)
#define FC_WG_GATHER_ROWS(dv, x, xs1, xs2, a) fc_wg_gather_rows_avx2(dv, x, xs1, xs2, a)
#define FC_WG_SCATTER_ROWS(o, y, ys1, ys2, m) fc_wg_scatter_rows_avx2(o, y, ys1, ys2, m)
#define FC_WG_GATHER_FILTERS(gv, w, ws0) fc_wg_gather_filters_avx2(gv, w, ws0)
/* Stage 2 is the GEMM's 6 x 16 microkernel contract (A = 6 rows of V read in place, B = a
 * packed U panel, C = M with unit column stride, beta 0): its assembly k loop replaces the
 * intrinsics tile. */
#define FC_WG_UKERNEL(cpad, v, ldv, u, m, ldm)                                                 \
    fc_f32_gemm_ukernel_6x16__avx2(cpad, v, ldv, 1, u, 1.0f, 0.0f, m, ldm, 1, 6, 16)
#include "winograd_tiles.h"

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
#define FC_VSTREAM(p, v) _mm256_stream_pd(p, v)
#define FC_WG_UKERNEL(cpad, v, ldv, u, m, ldm)                                                 \
    fc_f64_gemm_ukernel_6x8__avx2(cpad, v, ldv, 1, u, 1.0, 0.0, m, ldm, 1, 6, 8)
#include "winograd_tiles.h"

FC_END_TARGET
#endif /* FC_X86_64 */
