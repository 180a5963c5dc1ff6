/* AVX-512F GEMM microkernels: fp32 14x32 and fp64 14x16 (two zmm per row of C).
 * 28 accumulators + 2 B vectors + 2 broadcasts = the 32 zmm registers. Same template as the
 * AVX2 kernels (gemm_ukernel_vec.h); the full tile's k loop is assembly (below).
 * Dot kernels for narrow last panels as in gemm_ukernel_avx2.c: fp32 up to 8 columns, fp64
 * up to 4. */
#include <immintrin.h>

#include "gemm_internal.h"

#if FC_X86_64
FC_BEGIN_TARGET(FC_TARGET_AVX512)

/* The k loop of a full 14-row tile in assembly. GCC 12 compiles the intrinsics template for
 * 14 x 2 zmm accumulators with 14 row pointers kept on the stack and accumulators spilled
 * inside the loop (about 40 extra loads and stores per 28 FMAs). Fixed registers here:
 * zmm0-27 the accumulators (row i in zmm 2i, 2i+1), zmm28-29 the B row, zmm30-31 the
 * broadcasts (alternating, so consecutive rows do not wait on one register). The 14 rows of A
 * are reached from three base pointers and two strides with x86 addressing (scales 1, 2, 4, 8
 * of rs and of rs3 = 3 rs):
 *   a0: rows 0 1 2 4 8 (rs x 0 1 2 4 8), 3 6 12 (rs3 x 1 2 4); a5: rows 5 7 9 13 (rs x 0 2 4
 *   8), 11 (rs3 x 2); a10: row 10
 * so packed A (rs = 1 element) and A read in place (rs = its row stride) cost the same, and
 * three pointer increments serve 28 FMAs. Four k steps per iteration, the B panel prefetched
 * 8 steps ahead. After the loop the tile is stored to C (rows rc bytes apart) by the
 * assembly itself: added to it when add != 0. The caller passes a buffer for C when the tile
 * needs alpha, a partial width or strided columns (mode 0 of gemm_ukernel_vec.h). */
#define FC_AVX512_ROW(BCAST, FMA, ADDR, R0, R1, BR)                                           \
    BCAST " " ADDR ", %%zmm" BR "\n\t" FMA " %%zmm28, %%zmm" BR ", %%zmm" R0 "\n\t" FMA      \
          " %%zmm29, %%zmm" BR ", %%zmm" R1 "\n\t"
#define FC_AVX512_K_STEP(LOAD, BCAST, FMA, B0, B1)                                            \
    LOAD " " B0 "(%[b]), %%zmm28\n\t" LOAD " " B1 "(%[b]), %%zmm29\n\t"                       \
    FC_AVX512_ROW(BCAST, FMA, "(%[a0])", "0", "1", "30")                                      \
    FC_AVX512_ROW(BCAST, FMA, "(%[a0],%[rs],1)", "2", "3", "31")                              \
    FC_AVX512_ROW(BCAST, FMA, "(%[a0],%[rs],2)", "4", "5", "30")                              \
    FC_AVX512_ROW(BCAST, FMA, "(%[a0],%[r3],1)", "6", "7", "31")                              \
    FC_AVX512_ROW(BCAST, FMA, "(%[a0],%[rs],4)", "8", "9", "30")                              \
    FC_AVX512_ROW(BCAST, FMA, "(%[a5])", "10", "11", "31")                                    \
    FC_AVX512_ROW(BCAST, FMA, "(%[a0],%[r3],2)", "12", "13", "30")                            \
    FC_AVX512_ROW(BCAST, FMA, "(%[a5],%[rs],2)", "14", "15", "31")                            \
    FC_AVX512_ROW(BCAST, FMA, "(%[a0],%[rs],8)", "16", "17", "30")                            \
    FC_AVX512_ROW(BCAST, FMA, "(%[a5],%[rs],4)", "18", "19", "31")                            \
    FC_AVX512_ROW(BCAST, FMA, "(%[a10])", "20", "21", "30")                                   \
    FC_AVX512_ROW(BCAST, FMA, "(%[a5],%[r3],2)", "22", "23", "31")                            \
    FC_AVX512_ROW(BCAST, FMA, "(%[a0],%[r3],4)", "24", "25", "30")                            \
    FC_AVX512_ROW(BCAST, FMA, "(%[a5],%[rs],8)", "26", "27", "31")                            \
    "add %[cs], %[a0]\n\t"                                                                    \
    "add %[cs], %[a5]\n\t"                                                                    \
    "add %[cs], %[a10]\n\t"
/* Row i of C: added to (ADD) or stored (ST) through the pointer in a0, then a0 += rc. */
#define FC_AVX512_C_ROW(OP, R0, R1)                                                           \
    OP " (%[a0]), %%zmm" R0 ", %%zmm" R0 "\n\t" OP " 64(%[a0]), %%zmm" R1 ", %%zmm" R1         \
       "\n\tadd %[rs], %[a0]\n\t"
#define FC_AVX512_ST_ROW(ST, R0, R1)                                                          \
    ST " %%zmm" R0 ", (%[a0])\n\t" ST " %%zmm" R1 ", 64(%[a0])\n\tadd %[rs], %[a0]\n\t"
#define FC_AVX512_C_ALL(M, OP)                                                                \
    M(OP, "0", "1") M(OP, "2", "3") M(OP, "4", "5") M(OP, "6", "7") M(OP, "8", "9")           \
    M(OP, "10", "11") M(OP, "12", "13") M(OP, "14", "15") M(OP, "16", "17")                   \
    M(OP, "18", "19") M(OP, "20", "21") M(OP, "22", "23") M(OP, "24", "25")                   \
    M(OP, "26", "27")
#define FC_AVX512_TILE_14x2(LOAD, BCAST, FMA, ADD, VT, MODE)                                 \
    do {                                                                                      \
        const int64_t es_ = (int64_t)sizeof(*a), mode_ = (MODE);                               \
        const char *a0_ = (const char *)a, *a5_ = (const char *)(a + 5 * rsa);                \
        const char *a10_ = (const char *)(a + 10 * rsa), *b_ = (const char *)b;              \
        int64_t rs_ = rsa * es_, r3_ = 3 * rsa * es_, cs_ = csa * es_, k4_ = k >> 2;            \
        const int64_t kr_ = k & 3, add_ = mode_ == 2;                                          \
        char out_[14 * 128] __attribute__((aligned(64)));                                      \
        const char *cdst_ = mode_ ? (const char *)c : out_;                                    \
        const int64_t rc_ = mode_ ? rsc * es_ : 128;                                           \
        __asm__ volatile(                                                                     \
            "vpxord %%zmm0, %%zmm0, %%zmm0\n\t"                                               \
            "vmovaps %%zmm0, %%zmm1\n\t"                                                      \
            "vmovaps %%zmm0, %%zmm2\n\t"                                                      \
            "vmovaps %%zmm0, %%zmm3\n\t"                                                      \
            "vmovaps %%zmm0, %%zmm4\n\t"                                                      \
            "vmovaps %%zmm0, %%zmm5\n\t"                                                      \
            "vmovaps %%zmm0, %%zmm6\n\t"                                                      \
            "vmovaps %%zmm0, %%zmm7\n\t"                                                      \
            "vmovaps %%zmm0, %%zmm8\n\t"                                                      \
            "vmovaps %%zmm0, %%zmm9\n\t"                                                      \
            "vmovaps %%zmm0, %%zmm10\n\t"                                                     \
            "vmovaps %%zmm0, %%zmm11\n\t"                                                     \
            "vmovaps %%zmm0, %%zmm12\n\t"                                                     \
            "vmovaps %%zmm0, %%zmm13\n\t"                                                     \
            "vmovaps %%zmm0, %%zmm14\n\t"                                                     \
            "vmovaps %%zmm0, %%zmm15\n\t"                                                     \
            "vmovaps %%zmm0, %%zmm16\n\t"                                                     \
            "vmovaps %%zmm0, %%zmm17\n\t"                                                     \
            "vmovaps %%zmm0, %%zmm18\n\t"                                                     \
            "vmovaps %%zmm0, %%zmm19\n\t"                                                     \
            "vmovaps %%zmm0, %%zmm20\n\t"                                                     \
            "vmovaps %%zmm0, %%zmm21\n\t"                                                     \
            "vmovaps %%zmm0, %%zmm22\n\t"                                                     \
            "vmovaps %%zmm0, %%zmm23\n\t"                                                     \
            "vmovaps %%zmm0, %%zmm24\n\t"                                                     \
            "vmovaps %%zmm0, %%zmm25\n\t"                                                     \
            "vmovaps %%zmm0, %%zmm26\n\t"                                                     \
            "vmovaps %%zmm0, %%zmm27\n\t"                                                     \
            "test %[k4], %[k4]\n\t"                                                           \
            "jz 2f\n\t"                                                                       \
            "1:\n\t"                                                                          \
            "prefetcht0 1024(%[b])\n\t"                                                       \
            FC_AVX512_K_STEP(LOAD, BCAST, FMA, "0", "64")                                     \
            "prefetcht0 1152(%[b])\n\t"                                                       \
            FC_AVX512_K_STEP(LOAD, BCAST, FMA, "128", "192")                                  \
            "prefetcht0 1280(%[b])\n\t"                                                       \
            FC_AVX512_K_STEP(LOAD, BCAST, FMA, "256", "320")                                  \
            "prefetcht0 1408(%[b])\n\t"                                                       \
            FC_AVX512_K_STEP(LOAD, BCAST, FMA, "384", "448")                                  \
            "add $512, %[b]\n\t"                                                              \
            "dec %[k4]\n\t"                                                                   \
            "jnz 1b\n\t"                                                                      \
            "2:\n\t"                                                                          \
            "mov %[kr], %[k4]\n\t"                                                            \
            "test %[k4], %[k4]\n\t"                                                           \
            "jz 3f\n\t"                                                                       \
            "7:\n\t"                                                                          \
            FC_AVX512_K_STEP(LOAD, BCAST, FMA, "0", "64")                                     \
            "add $128, %[b]\n\t"                                                              \
            "dec %[k4]\n\t"                                                                   \
            "jnz 7b\n\t"                                                                      \
            "3:\n\t"                                                                          \
            "mov %[cd], %[a0]\n\t"                                                            \
            "mov %[rc], %[rs]\n\t"                                                            \
            "cmpq $0, %[add]\n\t"                                                             \
            "je 4f\n\t"                                                                       \
            FC_AVX512_C_ALL(FC_AVX512_C_ROW, ADD)                                             \
            "mov %[cd], %[a0]\n\t"                                                            \
            "4:\n\t"                                                                          \
            FC_AVX512_C_ALL(FC_AVX512_ST_ROW, LOAD)                                           \
            : [a0] "+r"(a0_), [a5] "+r"(a5_), [a10] "+r"(a10_), [b] "+r"(b_), [k4] "+r"(k4_), \
              [rs] "+r"(rs_)                                                                  \
            : [r3] "r"(r3_), [cs] "r"(cs_), [kr] "m"(kr_), [cd] "m"(cdst_), [rc] "m"(rc_),    \
              [add] "m"(add_)                                                                 \
            : "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", \
              "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16",  \
              "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24",         \
              "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31");                 \
        if (mode_) return;                                                                    \
        for (int i_ = 0; i_ < 14; i_++)                                                       \
            for (int v_ = 0; v_ < 2; v_++)                                                    \
                acc[i_][v_] = *(const VT *)(out_ + 128 * i_ + 64 * v_);                       \
    } while (0)

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
#define UK_ASM_FULL_TILE(MODE) \
    FC_AVX512_TILE_14x2("vmovups", "vbroadcastss", "vfmadd231ps", "vaddps", __m512, MODE)
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
#define UK_ASM_FULL_TILE(MODE) \
    FC_AVX512_TILE_14x2("vmovupd", "vbroadcastsd", "vfmadd231pd", "vaddpd", __m512d, MODE)
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

/* Packing 14 rows of a row-major A (gemm_internal.h, fc_*_pack_a_fn), 16 (fp32) or 8 (fp64)
 * columns at a time: one vector load per row, a register transpose, one masked store of the
 * 14 rows per column. The driver's element loop took about as long as the aliasing it avoids
 * (512 x 2048 x 49, A rows 8 KiB apart, 1 thread: 64 GFLOP/s packed by the loop, 66 read in
 * place, 82 with rows that do not alias). */
static inline void fc_transpose16_ps(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4)
        for (int j = 0; j < 2; j++) {
            r[i + j] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + j]),
                                                           _mm512_castps_pd(t[i + j + 2])));
            r[i + j + 2] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + j]),
                                                               _mm512_castps_pd(t[i + j + 2])));
        }
    /* r[4b + j] now holds, in each 128-bit lane L, element 4L + (j's position) of rows
     * 4b..4b+3; gather the lanes across blocks */
    for (int i = 0; i < 16; i += 8)
        for (int j = 0; j < 4; j++) {
            t[i + j] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0x88);
            t[i + j + 4] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0xdd);
        }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88);
        r[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xdd);
    }
}

void fc_f32_gemm_pack_a_14__avx512(float *dst, const float *a, int64_t rsa, int64_t kc) {
    const __mmask16 rows14 = 0x3fff;
    int64_t p = 0;
    for (; p + 16 <= kc; p += 16) {
        __m512 r[16];
        for (int i = 0; i < 14; i++) r[i] = _mm512_loadu_ps(a + i * rsa + p);
        r[14] = r[15] = _mm512_setzero_ps();
        fc_transpose16_ps(r);
        /* after the transpose, column q of the block sits in r[perm[q]] (the second stage
         * interleaves columns 1 and 2 of each group of four) */
        static const int perm[16] = {0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15};
        for (int q = 0; q < 16; q++) _mm512_mask_storeu_ps(dst + (p + q) * 14, rows14, r[perm[q]]);
    }
    for (; p < kc; p++)
        for (int i = 0; i < 14; i++) dst[p * 14 + i] = a[i * rsa + p];
}

static inline void fc_transpose8_pd(__m512d r[8]) {
    __m512d t[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm512_unpacklo_pd(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_pd(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4)
        for (int j = 0; j < 2; j++) {
            r[i + j] = _mm512_shuffle_f64x2(t[i + j], t[i + j + 2], 0x88);
            r[i + j + 2] = _mm512_shuffle_f64x2(t[i + j], t[i + j + 2], 0xdd);
        }
    for (int j = 0; j < 4; j++) {
        t[j] = _mm512_shuffle_f64x2(r[j], r[j + 4], 0x88);
        t[j + 4] = _mm512_shuffle_f64x2(r[j], r[j + 4], 0xdd);
    }
    for (int j = 0; j < 8; j++) r[j] = t[j];
}

void fc_f64_gemm_pack_a_14__avx512(double *dst, const double *a, int64_t rsa, int64_t kc) {
    int64_t p = 0;
    for (; p + 8 <= kc; p += 8) {
        __m512d lo[8], hi[8];
        for (int i = 0; i < 8; i++) lo[i] = _mm512_loadu_pd(a + i * rsa + p);
        for (int i = 0; i < 6; i++) hi[i] = _mm512_loadu_pd(a + (8 + i) * rsa + p);
        hi[6] = hi[7] = _mm512_setzero_pd();
        fc_transpose8_pd(lo);
        fc_transpose8_pd(hi);
        for (int q = 0; q < 8; q++) { /* lo[q], hi[q]: column q */
            _mm512_storeu_pd(dst + (p + q) * 14, lo[q]);
            _mm512_mask_storeu_pd(dst + (p + q) * 14 + 8, 0x3f, hi[q]);
        }
    }
    for (; p < kc; p++)
        for (int i = 0; i < 14; i++) dst[p * 14 + i] = a[i * rsa + p];
}

FC_END_TARGET
#endif
