/* VLxVL in-register transposes of 512-bit vectors: r[i] lane j becomes r[j] lane i. Floats:
 * unpack pairs, shuffle quads within 128-bit lanes, then two rounds of 128-bit lane shuffles
 * (64 shuffles for 16 vectors); doubles: unpack pairs, then two rounds of 128-bit lane shuffles
 * (24 for 8). Include inside an AVX-512 target region. */
#ifndef FC_VEC_TRANSPOSE_AVX512_H
#define FC_VEC_TRANSPOSE_AVX512_H
#include <immintrin.h>

static inline void fc_transpose_16x16_ps(__m512 *r) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);     /* per 128-bit lane: a0 b0 a1 b1 */
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]); /* a2 b2 a3 b3 */
    }
    for (int i = 0; i < 16; i += 4) { /* per 128-bit lane l: element 4l + q of rows i..i+3 */
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    /* r[4g + q] lane l holds element 4l + q of rows 4g..4g+3: gather lanes across groups */
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);      /* lanes 0, 2 of g0 | g1 */
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);  /* lanes 1, 3 */
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
    }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
    }
}

static inline void fc_transpose_8x8_pd(__m512d *r) {
    __m512d t[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm512_unpacklo_pd(r[i], r[i + 1]);     /* per 128-bit lane l: a(2l) b(2l) */
        t[i + 1] = _mm512_unpackhi_pd(r[i], r[i + 1]); /* a(2l+1) b(2l+1) */
    }
    /* t[2g + q] lane l holds element 2l + q of rows 2g, 2g+1 */
    __m512d u[8];
    for (int q = 0; q < 2; q++) {
        u[q] = _mm512_shuffle_f64x2(t[q], t[q + 2], 0x88);      /* lanes 0, 2 of rows 0-1 | 2-3 */
        u[q + 2] = _mm512_shuffle_f64x2(t[q], t[q + 2], 0xdd);  /* lanes 1, 3 */
        u[q + 4] = _mm512_shuffle_f64x2(t[q + 4], t[q + 6], 0x88);
        u[q + 6] = _mm512_shuffle_f64x2(t[q + 4], t[q + 6], 0xdd);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_f64x2(u[i], u[i + 4], 0x88);
        r[i + 4] = _mm512_shuffle_f64x2(u[i], u[i + 4], 0xdd);
    }
}
#endif /* FC_VEC_TRANSPOSE_AVX512_H */
