/* AVX2 + FMA3 GEMM microkernels: fp32 6x16 and fp64 6x8 (two ymm per row of C).
 * 12 accumulators + 2 B vectors + 1 broadcast = 15 of the 16 ymm registers.
 * Dot kernels (gemm_dot_vec.h) for a last panel of at most NR/4 columns of a small n
 * (n = 49 = 3 x 16 + 1): fp32 up to 4 columns, fp64 up to 2. */
#include <immintrin.h>

#include "gemm_internal.h"

#if FC_X86_64
FC_BEGIN_TARGET(FC_TARGET_AVX2)

/* The k loop of a full 6-row tile in assembly: GCC's register allocation of the intrinsics
 * version spilled an accumulator to the stack inside the loop. Fixed registers: ymm0-11 the
 * 6 x 2 accumulators (row i in ymm 2i, 2i+1), ymm12-13 the B row, ymm14 the broadcast. Rows
 * 0-2 of A are read at a0 + {0,1,2} * rsa, rows 3-5 at a3 = a0 + 3 * rsa (x86 addressing
 * scales 1 and 2), so packed A and A in place cost the same. Four k steps per iteration (then
 * a one-step remainder loop), with the B panel prefetched 8-10 steps ahead: measured best of
 * 6 runs, 1 thread, 64x576x3136 52 -> 60 GFLOP/s and 256x64x3136 66 -> 75 (one step per
 * iteration spent its loop overhead on every 12 FMAs); 1024^3 unchanged at 82.
 * mode 1 / 2 (alpha == 1, full-width rows of C with unit stride): the tile is stored to C
 * from the registers (beta == 0: C not read; beta == 1: added to C); mode 0: the
 * accumulators go through a buffer into acc[][] for the C code to store (a short k, e.g.
 * K = 64 of a 1x1 convolution, makes that round trip a visible part of the tile's time). */
#define FC_AVX2_ROW_STEP(BCAST, FMA, ADDR, R0, R1)                                            \
    BCAST " " ADDR ", %%ymm14\n\t" FMA " %%ymm12, %%ymm14, %%ymm" R0 "\n\t" FMA              \
          " %%ymm13, %%ymm14, %%ymm" R1 "\n\t"
/* One k step: the B row (at byte offsets B0, B1 from b), six broadcast rows of A, 12 FMAs;
 * then A advances one column (b advances in the caller, once per unrolled group). */
#define FC_AVX2_K_STEP(LOAD, BCAST, FMA, B0, B1)                                              \
    LOAD " " B0 "(%[b]), %%ymm12\n\t" LOAD " " B1 "(%[b]), %%ymm13\n\t"                       \
    FC_AVX2_ROW_STEP(BCAST, FMA, "(%[a0])", "0", "1")                                         \
    FC_AVX2_ROW_STEP(BCAST, FMA, "(%[a0],%[rs],1)", "2", "3")                                 \
    FC_AVX2_ROW_STEP(BCAST, FMA, "(%[a0],%[rs],2)", "4", "5")                                 \
    FC_AVX2_ROW_STEP(BCAST, FMA, "(%[a3])", "6", "7")                                         \
    FC_AVX2_ROW_STEP(BCAST, FMA, "(%[a3],%[rs],1)", "8", "9")                                 \
    FC_AVX2_ROW_STEP(BCAST, FMA, "(%[a3],%[rs],2)", "10", "11")                               \
    "add %[cs], %[a0]\n\t"                                                                    \
    "add %[cs], %[a3]\n\t"
#define FC_AVX2_ADD_ROW(ADD, ADDR0, ADDR1, R0, R1)                                            \
    ADD " " ADDR0 ", %%ymm" R0 ", %%ymm" R0 "\n\t" ADD " " ADDR1 ", %%ymm" R1 ", %%ymm" R1    \
        "\n\t"
#define FC_AVX2_STORE_ROW(ST, ADDR0, ADDR1, R0, R1)                                           \
    ST " %%ymm" R0 ", " ADDR0 "\n\t" ST " %%ymm" R1 ", " ADDR1 "\n\t"
#define FC_AVX2_TILE_6x2(LOAD, BCAST, FMA, ADD, VT, MODE)                                    \
    do {                                                                                      \
        const char *a0_ = (const char *)a, *a3_ = (const char *)(a + 3 * rsa);                \
        const char *b_ = (const char *)b;                                                     \
        const int64_t rs_ = rsa * (int64_t)sizeof(*a), cs_ = csa * (int64_t)sizeof(*a);       \
        const int64_t rc_ = rsc * (int64_t)sizeof(*a);                                        \
        char *c0_ = (char *)c, *c3_ = (char *)(c + 3 * rsc);                                  \
        int64_t k4_ = k >> 2, kr_ = k & 3, mode_ = (MODE);                                    \
        char out_[6 * 64] __attribute__((aligned(64)));                                       \
        __asm__ volatile(                                                                     \
            "vxorps %%ymm0, %%ymm0, %%ymm0\n\t"                                               \
            "vxorps %%ymm1, %%ymm1, %%ymm1\n\t"                                               \
            "vxorps %%ymm2, %%ymm2, %%ymm2\n\t"                                               \
            "vxorps %%ymm3, %%ymm3, %%ymm3\n\t"                                               \
            "vxorps %%ymm4, %%ymm4, %%ymm4\n\t"                                               \
            "vxorps %%ymm5, %%ymm5, %%ymm5\n\t"                                               \
            "vxorps %%ymm6, %%ymm6, %%ymm6\n\t"                                               \
            "vxorps %%ymm7, %%ymm7, %%ymm7\n\t"                                               \
            "vxorps %%ymm8, %%ymm8, %%ymm8\n\t"                                               \
            "vxorps %%ymm9, %%ymm9, %%ymm9\n\t"                                               \
            "vxorps %%ymm10, %%ymm10, %%ymm10\n\t"                                            \
            "vxorps %%ymm11, %%ymm11, %%ymm11\n\t"                                            \
            "test %[k4], %[k4]\n\t"                                                           \
            "jz 2f\n\t"                                                                       \
            "1:\n\t"                                                                          \
            "prefetcht0 512(%[b])\n\t"                                                        \
            FC_AVX2_K_STEP(LOAD, BCAST, FMA, "0", "32")                                       \
            FC_AVX2_K_STEP(LOAD, BCAST, FMA, "64", "96")                                      \
            "prefetcht0 640(%[b])\n\t"                                                        \
            FC_AVX2_K_STEP(LOAD, BCAST, FMA, "128", "160")                                    \
            FC_AVX2_K_STEP(LOAD, BCAST, FMA, "192", "224")                                    \
            "add $256, %[b]\n\t"                                                              \
            "dec %[k4]\n\t"                                                                   \
            "jnz 1b\n\t"                                                                      \
            "2:\n\t"                                                                          \
            "test %[kr], %[kr]\n\t"                                                           \
            "jz 3f\n\t"                                                                       \
            "7:\n\t"                                                                          \
            FC_AVX2_K_STEP(LOAD, BCAST, FMA, "0", "32")                                       \
            "add $64, %[b]\n\t"                                                               \
            "dec %[kr]\n\t"                                                                   \
            "jnz 7b\n\t"                                                                      \
            "3:\n\t"                                                                          \
            "test %[mode], %[mode]\n\t"                                                       \
            "jz 5f\n\t"                                                                       \
            "cmp $1, %[mode]\n\t"                                                             \
            "je 4f\n\t"                                                                       \
            FC_AVX2_ADD_ROW(ADD, "(%[c0])", "32(%[c0])", "0", "1")                            \
            FC_AVX2_ADD_ROW(ADD, "(%[c0],%[rc],1)", "32(%[c0],%[rc],1)", "2", "3")            \
            FC_AVX2_ADD_ROW(ADD, "(%[c0],%[rc],2)", "32(%[c0],%[rc],2)", "4", "5")            \
            FC_AVX2_ADD_ROW(ADD, "(%[c3])", "32(%[c3])", "6", "7")                            \
            FC_AVX2_ADD_ROW(ADD, "(%[c3],%[rc],1)", "32(%[c3],%[rc],1)", "8", "9")            \
            FC_AVX2_ADD_ROW(ADD, "(%[c3],%[rc],2)", "32(%[c3],%[rc],2)", "10", "11")          \
            "4:\n\t"                                                                          \
            FC_AVX2_STORE_ROW(LOAD, "(%[c0])", "32(%[c0])", "0", "1")                         \
            FC_AVX2_STORE_ROW(LOAD, "(%[c0],%[rc],1)", "32(%[c0],%[rc],1)", "2", "3")         \
            FC_AVX2_STORE_ROW(LOAD, "(%[c0],%[rc],2)", "32(%[c0],%[rc],2)", "4", "5")         \
            FC_AVX2_STORE_ROW(LOAD, "(%[c3])", "32(%[c3])", "6", "7")                         \
            FC_AVX2_STORE_ROW(LOAD, "(%[c3],%[rc],1)", "32(%[c3],%[rc],1)", "8", "9")         \
            FC_AVX2_STORE_ROW(LOAD, "(%[c3],%[rc],2)", "32(%[c3],%[rc],2)", "10", "11")       \
            "jmp 6f\n\t"                                                                      \
            "5:\n\t"                                                                          \
            "vmovaps %%ymm0, 0(%[o])\n\t"                                                     \
            "vmovaps %%ymm1, 32(%[o])\n\t"                                                    \
            "vmovaps %%ymm2, 64(%[o])\n\t"                                                    \
            "vmovaps %%ymm3, 96(%[o])\n\t"                                                    \
            "vmovaps %%ymm4, 128(%[o])\n\t"                                                   \
            "vmovaps %%ymm5, 160(%[o])\n\t"                                                   \
            "vmovaps %%ymm6, 192(%[o])\n\t"                                                   \
            "vmovaps %%ymm7, 224(%[o])\n\t"                                                   \
            "vmovaps %%ymm8, 256(%[o])\n\t"                                                   \
            "vmovaps %%ymm9, 288(%[o])\n\t"                                                   \
            "vmovaps %%ymm10, 320(%[o])\n\t"                                                  \
            "vmovaps %%ymm11, 352(%[o])\n\t"                                                  \
            "6:\n\t"                                                                          \
            : [a0] "+r"(a0_), [a3] "+r"(a3_), [b] "+r"(b_), [k4] "+r"(k4_), [kr] "+r"(kr_)    \
            : [rs] "r"(rs_), [cs] "r"(cs_), [o] "r"(out_), [c0] "r"(c0_), [c3] "r"(c3_),      \
              [rc] "r"(rc_), [mode] "r"(mode_)                                                \
            : "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", \
              "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");          \
        if (mode_) return;                                                                    \
        for (int i_ = 0; i_ < 6; i_++)                                                        \
            for (int v_ = 0; v_ < 2; v_++)                                                    \
                acc[i_][v_] = *(const VT *)(out_ + 64 * i_ + 32 * v_);                        \
    } while (0)

#define UK_NAME fc_f32_gemm_ukernel_6x16__avx2
#define UK_T float
#define UK_VT __m256
#define UK_VLEN 8
#define UK_MR 6
#define UK_NV 2
#define UK_ZERO() _mm256_setzero_ps()
#define UK_LOAD(p) _mm256_loadu_ps(p)
#define UK_STORE(p, v) _mm256_storeu_ps((p), (v))
#define UK_BCAST(p) _mm256_broadcast_ss(p)
#define UK_SET1(x) _mm256_set1_ps(x)
#define UK_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define UK_MUL(a, b) _mm256_mul_ps((a), (b))
#define UK_ASM_FULL_TILE(MODE) \
    FC_AVX2_TILE_6x2("vmovups", "vbroadcastss", "vfmadd231ps", "vaddps", __m256, MODE)
#include "gemm_ukernel_vec.h"

#define UK_NAME fc_f64_gemm_ukernel_6x8__avx2
#define UK_T double
#define UK_VT __m256d
#define UK_VLEN 4
#define UK_MR 6
#define UK_NV 2
#define UK_ZERO() _mm256_setzero_pd()
#define UK_LOAD(p) _mm256_loadu_pd(p)
#define UK_STORE(p, v) _mm256_storeu_pd((p), (v))
#define UK_BCAST(p) _mm256_broadcast_sd(p)
#define UK_SET1(x) _mm256_set1_pd(x)
#define UK_FMA(a, b, c) _mm256_fmadd_pd((a), (b), (c))
#define UK_MUL(a, b) _mm256_mul_pd((a), (b))
#define UK_ASM_FULL_TILE(MODE) \
    FC_AVX2_TILE_6x2("vmovupd", "vbroadcastsd", "vfmadd231pd", "vaddpd", __m256d, MODE)
#include "gemm_ukernel_vec.h"





static inline float fc_hsum256_ps(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

static inline double fc_hsum256_pd(__m256d v) {
    __m128d x = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(x, _mm_unpackhi_pd(x, x)));
}

#define DK_NAME fc_f32_gemm_dot_6x4__avx2
#define DK_T float
#define DK_VT __m256
#define DK_VLEN 8
#define DK_NMAX 4
#define DK_ZERO() _mm256_setzero_ps()
#define DK_LOAD(p) _mm256_loadu_ps(p)
#define DK_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define DK_HSUM(v) fc_hsum256_ps(v)
#include "gemm_dot_vec.h"

#define DK_NAME fc_f64_gemm_dot_6x2__avx2
#define DK_T double
#define DK_VT __m256d
#define DK_VLEN 4
#define DK_NMAX 2
#define DK_ZERO() _mm256_setzero_pd()
#define DK_LOAD(p) _mm256_loadu_pd(p)
#define DK_FMA(a, b, c) _mm256_fmadd_pd((a), (b), (c))
#define DK_HSUM(v) fc_hsum256_pd(v)
#include "gemm_dot_vec.h"

FC_END_TARGET
#endif
