/* Depthwise entry points (groups == c_in: each output channel reads one input channel; a 1 -> 1
 * convolution is the one-plane case): a cheap safety net on the descriptor, then the variant of
 * the active ISA (fc_active_isa()). The kernels are in conv_depthwise_impl.h, instantiated per
 * ISA by conv_depthwise_scalar.c, conv_depthwise_avx2.c and conv_depthwise_avx512.c. */
#include "conv_depthwise.h"

/* Not argument validation (the Python API did that): only descriptors no kernel could run, so a
 * marshalling bug surfaces as FC_ERR_INVALID_ARGUMENT instead of memory corruption. */
static fc_status check_desc(const fc_conv2d_desc *d, const void *x, const void *w,
                            const void *y) {
    if (!d || !x || !w || !y || d->nthreads < 1) return FC_ERR_INVALID_ARGUMENT;
    if (d->n < 0 || d->c_in < 1 || d->h < 1 || d->w < 1 || d->kh < 1 || d->kw < 1 ||
        d->h_out < 0 || d->w_out < 0 || d->stride_h < 1 || d->stride_w < 1 || d->dil_h < 1 ||
        d->dil_w < 1 || d->pad_top < 0 || d->pad_left < 0)
        return FC_ERR_INVALID_ARGUMENT;
    if (d->groups != d->c_in || d->c_out < 0 || d->c_out % d->c_in != 0)
        return FC_ERR_UNSUPPORTED; /* not a depthwise problem */
    return FC_OK;
}

static int empty_output(const fc_conv2d_desc *d) {
    return d->n == 0 || d->c_out == 0 || d->h_out == 0 || d->w_out == 0;
}

fc_status fc_f32_conv2d_depthwise(const fc_conv2d_desc *d, const float *x, const float *w,
                                  const float *bias, float *y) {
    const fc_status st = check_desc(d, x, w, y);
    if (st != FC_OK || empty_output(d)) return st;
    double t = FC_PROFILE_START(d);
    fc_status result;
    switch (fc_active_isa()) {
#if FC_X86_64
    case FC_ISA_AVX512: result = fc_f32_conv2d_depthwise__avx512(d, x, w, bias, y); break;
    case FC_ISA_AVX2: result = fc_f32_conv2d_depthwise__avx2(d, x, w, bias, y); break;
#endif
    default: result = fc_f32_conv2d_depthwise__scalar(d, x, w, bias, y); break;
    }
    FC_PROFILE_ADD(d, total, t);
    if (d->profile) d->profile->calls += 1;
    return result;
}

fc_status fc_f64_conv2d_depthwise(const fc_conv2d_desc *d, const double *x, const double *w,
                                  const double *bias, double *y) {
    const fc_status st = check_desc(d, x, w, y);
    if (st != FC_OK || empty_output(d)) return st;
    double t = FC_PROFILE_START(d);
    fc_status result;
    switch (fc_active_isa()) {
#if FC_X86_64
    case FC_ISA_AVX512: result = fc_f64_conv2d_depthwise__avx512(d, x, w, bias, y); break;
    case FC_ISA_AVX2: result = fc_f64_conv2d_depthwise__avx2(d, x, w, bias, y); break;
#endif
    default: result = fc_f64_conv2d_depthwise__scalar(d, x, w, bias, y); break;
    }
    FC_PROFILE_ADD(d, total, t);
    if (d->profile) d->profile->calls += 1;
    return result;
}
