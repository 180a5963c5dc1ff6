/* The per-ISA and per-tile-size variants of the Winograd F(m x m, 3x3) kernel, m = 2 or 4
 * (csrc/winograd_<isa>.c, all generated from the one template csrc/winograd_impl.h). Private:
 * winograd.c picks the tile size, sizes the buffers, checks the kernel-transform header and
 * picks the variant of the ISA and tile size the transform was made for.
 *
 * Layouts (VL: the variant's vector lanes, NR = 2 * VL; Cg, Kg: channels per group; XI =
 * (m + 2)^2 tile positions, 16 or 36):
 *   cpad = Cg rounded up to VL, kpad = Kg rounded up to NR;
 *   U (kernel transform): [groups][XI][kpad / NR][cpad][NR], zero where k >= Kg or c >= Cg;
 *   V (input transform):  [XI][nb][cpad] per block of nb tiles (nb a multiple of 6);
 *   M (products):         [XI][nb][kpad], right after V.
 * Each of the XI planes of U, V and M is followed by FC_WINOGRAD_XI_PAD unused elements.
 * The workspace holds one V + M buffer (buf elements, 64-byte aligned) per thread when the
 * threads take whole blocks each (per_thread), else one that they share. */
#ifndef FASTCONV_WINOGRAD_H
#define FASTCONV_WINOGRAD_H

#include "internal.h"

/* Tiles per microkernel call: 6 rows x 2 vectors of accumulators (12 of the 16 AVX2
 * registers, plus 2 for U and 1 broadcast). */
#define FC_WINOGRAD_MR 6

/* Elements between consecutive xi planes beyond the plane itself (64 bytes for float): plane
 * sizes are often multiples of 4 KiB (96 tiles x 64 channels x 4 bytes = 24 KiB), so the 36
 * streams each transform reads or writes would all map to the same L1/L2 sets. */
#define FC_WINOGRAD_XI_PAD 16
/* Kernel transforms larger than this are written with non-temporal stores (winograd_impl.h). */
#define FC_WINOGRAD_STREAM_BYTES ((size_t)8 << 20)
#define FC_WINOGRAD_VARIANT_TILE(T, TN, M, ISA)                                                \
    fc_status fc_##TN##_winograd_kernel_transform_f##M##__##ISA(                               \
        const fc_conv2d_desc *d, const T *w, T *u, int64_t cpad, int64_t kpad);                 \
    fc_status fc_##TN##_winograd_apply_f##M##__##ISA(                                          \
        const fc_conv2d_desc *d, const T *u, const T *w, const T *x, const T *bias, T *y, T *ws, \
        int64_t buf, int64_t up_elems, int per_thread, int64_t nb, int64_t cpad, int64_t kpad);
#define FC_WINOGRAD_VARIANT(T, TN, ISA)                                                        \
    FC_WINOGRAD_VARIANT_TILE(T, TN, 2, ISA)                                                    \
    FC_WINOGRAD_VARIANT_TILE(T, TN, 4, ISA)
FC_WINOGRAD_VARIANT(float, f32, scalar)
FC_WINOGRAD_VARIANT(double, f64, scalar)
#if FC_X86_64
FC_WINOGRAD_VARIANT(float, f32, avx2)
FC_WINOGRAD_VARIANT(double, f64, avx2)
FC_WINOGRAD_VARIANT(float, f32, avx512)
FC_WINOGRAD_VARIANT(double, f64, avx512)
#endif
#undef FC_WINOGRAD_VARIANT
#undef FC_WINOGRAD_VARIANT_TILE

#endif /* FASTCONV_WINOGRAD_H */
