/* Depthwise entry points (groups == c_in: each output channel reads one input channel; a 1 -> 1
 * convolution is the one-plane case): a cheap safety net on the descriptor, then the variant of
 * the active ISA (fc_active_isa()). The kernels are in conv_depthwise_impl.h, instantiated per
 * ISA by conv_depthwise_scalar.c, conv_depthwise_avx2.c and conv_depthwise_avx512.c. */
#include "conv_depthwise.h"

/* The shared safety net (internal.h), plus: the problem must be depthwise. */
static fc_status check_desc(const fc_conv2d_desc *d, const void *x, const void *w,
                            const void *y) {
    const fc_status st = fc_conv_desc_check(d, x, w, y);
    if (st != FC_OK) return st;
    if (d->groups != d->c_in || d->c_out % d->c_in != 0)
        return FC_ERR_UNSUPPORTED; /* not a depthwise problem */
    return FC_OK;
}

#if FC_X86_64
#define FC_DW_X86_CASES(tn, args)                                                                 \
    case FC_ISA_AVX512: result = fc_##tn##_conv2d_depthwise__avx512 args; break;                 \
    case FC_ISA_AVX2: result = fc_##tn##_conv2d_depthwise__avx2 args; break;
#else
#define FC_DW_X86_CASES(tn, args)
#endif

#define FC_DW_ENTRY(T, tn)                                                                        \
    fc_status fc_##tn##_conv2d_depthwise(const fc_conv2d_desc *d, const T *x, const T *w,        \
                                         const T *bias, T *y) {                                  \
        const fc_status st = check_desc(d, x, w, y);                                              \
        if (st != FC_OK || fc_conv_output_empty(d)) return st;                                    \
        double t = FC_PROFILE_START(d);                                                           \
        fc_status result;                                                                         \
        switch (fc_active_isa()) {                                                                \
        FC_DW_X86_CASES(tn, (d, x, w, bias, y))                                                   \
        default: result = fc_##tn##_conv2d_depthwise__scalar(d, x, w, bias, y); break;           \
        }                                                                                         \
        FC_PROFILE_ADD(d, total, t);                                                              \
        if (d->profile) d->profile->calls += 1;                                                   \
        return result;                                                                            \
    }
FC_DW_ENTRY(float, f32)
FC_DW_ENTRY(double, f64)
