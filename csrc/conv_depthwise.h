/* The per-ISA variants of the depthwise kernel (csrc/conv_depthwise_<isa>.c, all generated from
 * the one template csrc/conv_depthwise_impl.h) and the tile sizes they use. Private:
 * conv_depthwise.c picks one per call from fc_active_isa(); nothing else calls them. Same
 * contract as fc_*_conv2d_depthwise in fastconv.h, after conv_depthwise.c's safety checks. */
#ifndef FASTCONV_CONV_DEPTHWISE_H
#define FASTCONV_CONV_DEPTHWISE_H

#include "internal.h"

/* Row path (vectorised along the output width): a register tile is R output rows x NV vectors;
 * R * NV <= ACC accumulators, and with one broadcast weight and one input vector live that fits
 * the register file (scalar/x86-64: 16 xmm; AVX2: 16 ymm; AVX-512: 32 zmm). */
#define FC_DW_SCALAR_ACC 12
#define FC_DW_SCALAR_NV 3
#define FC_DW_AVX2_ACC 12
#define FC_DW_AVX2_NV 3
#define FC_DW_AVX512_ACC 24
#define FC_DW_AVX512_NV 3
/* ... and of the 3x3 tile, whose nine broadcast weights stay in registers too. */
#define FC_DW_SCALAR_ACC3 6
#define FC_DW_AVX2_ACC3 6
#define FC_DW_AVX512_ACC3 12

/* Channel path (NHWC, vectorised along channels): P output pixels x CV vectors of channels;
 * P * CV accumulators + CV weight vectors in registers, the input read as a memory operand. */
#define FC_DW_SCALAR_P 3
#define FC_DW_SCALAR_CV 4
#define FC_DW_AVX2_P 6
#define FC_DW_AVX2_CV 2
#define FC_DW_AVX512_P 12
#define FC_DW_AVX512_CV 2

/* Stack limits of the fast paths (beyond them the generic scalar loops run):
 * KMAX: kernel height and width; RMAX: rows of a row-path tile (>= every ACC above);
 * SMAX: stride_w of the row path (its packed rows hold stride_w phases);
 * ROWSMAX: input rows one row block reads ((R-1)*stride_h + (kh-1)*dil_h + 1);
 * BUFMAX: elements of a task's packed-row ring (wide rows are cut into column chunks to fit);
 * WMAX: elements of a task's packed weights (kh * kw * channels of a channel block). */
#define FC_DW_KMAX 64
#define FC_DW_RMAX 24
#define FC_DW_SMAX 16
#define FC_DW_ROWSMAX 512
#define FC_DW_BUFMAX 16384
#define FC_DW_WMAX 16384
/* Packed channel path: elements of a task's packed input rows and of its outputs (two stack
 * buffers, each within a 32 KiB L1 for float32). */
#define FC_DW_PACKMAX 8192

fc_status fc_f32_conv2d_depthwise__scalar(const fc_conv2d_desc *d, const float *x,
                                          const float *w, const float *bias, float *y);
fc_status fc_f64_conv2d_depthwise__scalar(const fc_conv2d_desc *d, const double *x,
                                          const double *w, const double *bias, double *y);
#if FC_X86_64
fc_status fc_f32_conv2d_depthwise__avx2(const fc_conv2d_desc *d, const float *x, const float *w,
                                        const float *bias, float *y);
fc_status fc_f64_conv2d_depthwise__avx2(const fc_conv2d_desc *d, const double *x,
                                        const double *w, const double *bias, double *y);
fc_status fc_f32_conv2d_depthwise__avx512(const fc_conv2d_desc *d, const float *x,
                                          const float *w, const float *bias, float *y);
fc_status fc_f64_conv2d_depthwise__avx512(const fc_conv2d_desc *d, const double *x,
                                          const double *w, const double *bias, double *y);
#endif

#endif /* FASTCONV_CONV_DEPTHWISE_H */
