/* The per-ISA variants of the direct kernel (csrc/conv_direct_<isa>.c, all generated from the one
 * template csrc/conv_direct_impl.h) and the tile sizes they use. Private: conv_direct.c picks one
 * per call from fc_active_isa(); nothing else calls them. Same contract as fc_*_conv2d_direct in
 * fastconv.h, except that the descriptor has already passed conv_direct.c's safety checks. */
#ifndef FASTCONV_CONV_DIRECT_H
#define FASTCONV_CONV_DIRECT_H

#include "internal.h"

/* Register tile of each variant: KB output channels x NV vectors of VL output pixels along w.
 * Chosen so that KB*NV accumulators + NV input vectors + 1 broadcast weight fit the register
 * file (scalar/x86-64: 16 xmm; AVX2: 16 ymm; AVX-512: 32 zmm). KB must be a power of two: a
 * channel remainder is split into power-of-two pieces (7 = 4 + 2 + 1). */
#define FC_DIRECT_SCALAR_KB 4
#define FC_DIRECT_SCALAR_NV 2
#define FC_DIRECT_AVX2_KB 4
#define FC_DIRECT_AVX2_NV 3
#define FC_DIRECT_AVX512_KB 8
#define FC_DIRECT_AVX512_NV 3

/* Register tile of the channel-blocked kernel (fc_*_conv2d_direct_blocked): BKB vectors of output
 * channels x BNW output pixels, so BKB*BNW accumulators + BKB weight vectors + 1 broadcast fit
 * the register file: AVX2 2 x 6 (12 + 2 + 1 of 16 ymm: 2 weight loads and 6 broadcasts per 12
 * FMAs, where 4 x 3 would need 17 registers or FMAs with memory operands), AVX-512 2 x 12 (24 +
 * 2 + 1 of 32 zmm), scalar 4 x 3. At most 4 x 16. */
#define FC_DIRECT_SCALAR_BKB 4
#define FC_DIRECT_SCALAR_BNW 3
#define FC_DIRECT_AVX2_BKB 2
#define FC_DIRECT_AVX2_BNW 6
#define FC_DIRECT_AVX512_BKB 2
#define FC_DIRECT_AVX512_BNW 12
/* When the w-vectorised kernel beats the blocked one (fc_direct_blocked_preferred). Per call,
 * 2 threads, Zen 4 with AVX-512, the w-vectorised kernel's time over the blocked one's:
 *  - MIN_FILL: output channels per group over the blocks' lanes below 0.8 (the last block of
 *    each group mostly idle): ShuffleNet's 1x1 layers with 20 and 40 channels per group
 *    0.53-0.62, MobileNet v2's 96 -> 24 0.61, SqueezeNet's 64 -> 16 0.66, wav2vec2's grouped
 *    48 -> 48 (kernel 128) 0.36; at 0.83 and above (ShuffleNet's 80) 0.92-1.18.
 *  - MIN_REDUCTION: with NCHW output and stride 1, input channels x taps below 32: a tile's
 *    few FMAs no longer hide its transposed stores (MobileNet v2's 16 -> 96 1x1 0.50,
 *    VGG-16's 3 -> 64 3x3 0.66, SqueezeNet's 16 -> 64 1x1 0.79); at 32 and above 1.06-1.61;
 *    with stride 2 the w-vectorised kernel packs its input and loses (stems: 1.17-1.51). */
#define FC_DIRECT_BLOCKED_MIN_FILL 0.8
#define FC_DIRECT_BLOCKED_MIN_REDUCTION 32

/* Input bytes a task of the blocked kernel covers (its rows stay in L2 while every output
 * channel block passes over them): half of this machine's L2, the rest is for weights. */
#define FC_DIRECT_CHUNK_BYTES ((double)fc_cache_l2() / 2.0)

/* Stack limits of the fast paths (problems beyond them take the generic scalar path):
 * KWMAX: kernel widths whose border masks are precomputed per tile;
 * BUFMAX: elements of the per-thread packed-input buffer (strided / non-unit-stride inputs);
 * NQMAX: input phases (min(stride_w, span of the kernel)) the packed buffer holds. */
#define FC_DIRECT_KWMAX 16
#define FC_DIRECT_BUFMAX 4096
#define FC_DIRECT_NQMAX 16

fc_status fc_f32_conv2d_direct__scalar(const fc_conv2d_desc *d, const float *x, const float *w,
                                       const float *bias, float *y);
fc_status fc_f64_conv2d_direct__scalar(const fc_conv2d_desc *d, const double *x,
                                       const double *w, const double *bias, double *y);
size_t fc_f32_conv2d_direct_blocked_workspace_size__scalar(const fc_conv2d_desc *d);
size_t fc_f64_conv2d_direct_blocked_workspace_size__scalar(const fc_conv2d_desc *d);
fc_status fc_f32_conv2d_direct_blocked__scalar(const fc_conv2d_desc *d, const float *x,
                                               const float *w, const float *bias, float *y,
                                               void *workspace, size_t workspace_bytes);
fc_status fc_f64_conv2d_direct_blocked__scalar(const fc_conv2d_desc *d, const double *x,
                                               const double *w, const double *bias, double *y,
                                               void *workspace, size_t workspace_bytes);
/* The blocked kernel in two steps (weights packed once): sizes and entries per variant. */
size_t fc_f32_conv2d_direct_blocked_packed_bytes__scalar(const fc_conv2d_desc *d);
size_t fc_f32_conv2d_direct_blocked_apply_workspace_size__scalar(const fc_conv2d_desc *d);
fc_status fc_f32_conv2d_direct_blocked_pack__scalar(const fc_conv2d_desc *d, const float *w, float *packed);
fc_status fc_f32_conv2d_direct_blocked_apply__scalar(const fc_conv2d_desc *d, const float *packed,
                                                     const float *x, const float *bias, float *y,
                                                     void *workspace, size_t workspace_bytes);
size_t fc_f64_conv2d_direct_blocked_packed_bytes__scalar(const fc_conv2d_desc *d);
size_t fc_f64_conv2d_direct_blocked_apply_workspace_size__scalar(const fc_conv2d_desc *d);
fc_status fc_f64_conv2d_direct_blocked_pack__scalar(const fc_conv2d_desc *d, const double *w, double *packed);
fc_status fc_f64_conv2d_direct_blocked_apply__scalar(const fc_conv2d_desc *d, const double *packed,
                                                     const double *x, const double *bias, double *y,
                                                     void *workspace, size_t workspace_bytes);
#if FC_X86_64
size_t fc_f32_conv2d_direct_blocked_packed_bytes__avx2(const fc_conv2d_desc *d);
size_t fc_f32_conv2d_direct_blocked_apply_workspace_size__avx2(const fc_conv2d_desc *d);
fc_status fc_f32_conv2d_direct_blocked_pack__avx2(const fc_conv2d_desc *d, const float *w, float *packed);
fc_status fc_f32_conv2d_direct_blocked_apply__avx2(const fc_conv2d_desc *d, const float *packed,
                                                     const float *x, const float *bias, float *y,
                                                     void *workspace, size_t workspace_bytes);
size_t fc_f64_conv2d_direct_blocked_packed_bytes__avx2(const fc_conv2d_desc *d);
size_t fc_f64_conv2d_direct_blocked_apply_workspace_size__avx2(const fc_conv2d_desc *d);
fc_status fc_f64_conv2d_direct_blocked_pack__avx2(const fc_conv2d_desc *d, const double *w, double *packed);
fc_status fc_f64_conv2d_direct_blocked_apply__avx2(const fc_conv2d_desc *d, const double *packed,
                                                     const double *x, const double *bias, double *y,
                                                     void *workspace, size_t workspace_bytes);
size_t fc_f32_conv2d_direct_blocked_packed_bytes__avx512(const fc_conv2d_desc *d);
size_t fc_f32_conv2d_direct_blocked_apply_workspace_size__avx512(const fc_conv2d_desc *d);
fc_status fc_f32_conv2d_direct_blocked_pack__avx512(const fc_conv2d_desc *d, const float *w, float *packed);
fc_status fc_f32_conv2d_direct_blocked_apply__avx512(const fc_conv2d_desc *d, const float *packed,
                                                     const float *x, const float *bias, float *y,
                                                     void *workspace, size_t workspace_bytes);
size_t fc_f64_conv2d_direct_blocked_packed_bytes__avx512(const fc_conv2d_desc *d);
size_t fc_f64_conv2d_direct_blocked_apply_workspace_size__avx512(const fc_conv2d_desc *d);
fc_status fc_f64_conv2d_direct_blocked_pack__avx512(const fc_conv2d_desc *d, const double *w, double *packed);
fc_status fc_f64_conv2d_direct_blocked_apply__avx512(const fc_conv2d_desc *d, const double *packed,
                                                     const double *x, const double *bias, double *y,
                                                     void *workspace, size_t workspace_bytes);
size_t fc_f32_conv2d_direct_blocked_workspace_size__avx2(const fc_conv2d_desc *d);
size_t fc_f64_conv2d_direct_blocked_workspace_size__avx2(const fc_conv2d_desc *d);
fc_status fc_f32_conv2d_direct_blocked__avx2(const fc_conv2d_desc *d, const float *x,
                                             const float *w, const float *bias, float *y,
                                             void *workspace, size_t workspace_bytes);
fc_status fc_f64_conv2d_direct_blocked__avx2(const fc_conv2d_desc *d, const double *x,
                                             const double *w, const double *bias, double *y,
                                             void *workspace, size_t workspace_bytes);
size_t fc_f32_conv2d_direct_blocked_workspace_size__avx512(const fc_conv2d_desc *d);
size_t fc_f64_conv2d_direct_blocked_workspace_size__avx512(const fc_conv2d_desc *d);
fc_status fc_f32_conv2d_direct_blocked__avx512(const fc_conv2d_desc *d, const float *x,
                                               const float *w, const float *bias, float *y,
                                               void *workspace, size_t workspace_bytes);
fc_status fc_f64_conv2d_direct_blocked__avx512(const fc_conv2d_desc *d, const double *x,
                                               const double *w, const double *bias, double *y,
                                               void *workspace, size_t workspace_bytes);
fc_status fc_f32_conv2d_direct__avx2(const fc_conv2d_desc *d, const float *x, const float *w,
                                     const float *bias, float *y);
fc_status fc_f64_conv2d_direct__avx2(const fc_conv2d_desc *d, const double *x, const double *w,
                                     const double *bias, double *y);
fc_status fc_f32_conv2d_direct__avx512(const fc_conv2d_desc *d, const float *x, const float *w,
                                       const float *bias, float *y);
fc_status fc_f64_conv2d_direct__avx512(const fc_conv2d_desc *d, const double *x,
                                       const double *w, const double *bias, double *y);
#endif

#endif /* FASTCONV_CONV_DIRECT_H */
