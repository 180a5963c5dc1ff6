/* direct:c entry points: a cheap safety net on the descriptor, then the variant of the active
 * ISA (fc_active_isa()). The kernels themselves are in conv_direct_impl.h, instantiated per ISA
 * by conv_direct_scalar.c, conv_direct_avx2.c and conv_direct_avx512.c. */
#include "conv_direct.h"

/* Below this many multiply-adds a call runs on one thread: handing work to a second thread
 * costs about as much as the second core saves (the (1, 8, 4, 4) x (8, 8, 1, 1) problem: 1.2
 * us per C call on one thread, 2.8 us on two with an OpenMP fork/join, Zen 4; waking a
 * sleeping pool thread is a futex syscall, a few us; 2^17 multiply-adds are ~3 us of one
 * core). */
#define FC_DIRECT_MIN_THREADED_MACS 131072.0

/* d itself, or a copy of it in *one that asks for one thread when the problem is tiny. */
static const fc_conv2d_desc *fc_direct_threads(const fc_conv2d_desc *d, fc_conv2d_desc *one) {
    if (d->nthreads <= 1 || d->groups < 1) return d; /* the kernels' checks judge the rest */
    const double macs = (double)d->n * (double)d->c_out * (double)d->h_out * (double)d->w_out *
                        (double)(d->c_in / d->groups) * (double)d->kh * (double)d->kw;
    if (d->nthreads <= 1 || macs >= FC_DIRECT_MIN_THREADED_MACS) return d;
    *one = *d;
    one->nthreads = 1;
    return one;
}

fc_status fc_f32_conv2d_direct(const fc_conv2d_desc *d, const float *x, const float *w,
                               const float *bias, float *y) {
    fc_conv2d_desc one;
    if (d && d->groups == d->c_in)
        return fc_f32_conv2d_depthwise(fc_direct_threads(d, &one), x, w, bias, y);
    const fc_status st = fc_conv_desc_check(d, x, w, y);
    if (st != FC_OK) return st;
    if (fc_conv_output_empty(d)) return FC_OK;
    d = fc_direct_threads(d, &one);
    switch (fc_active_isa()) {
#if FC_X86_64
    case FC_ISA_AVX512: return fc_f32_conv2d_direct__avx512(d, x, w, bias, y);
    case FC_ISA_AVX2: return fc_f32_conv2d_direct__avx2(d, x, w, bias, y);
#endif
    default: return fc_f32_conv2d_direct__scalar(d, x, w, bias, y);
    }
}

fc_status fc_f64_conv2d_direct(const fc_conv2d_desc *d, const double *x, const double *w,
                               const double *bias, double *y) {
    fc_conv2d_desc one;
    if (d && d->groups == d->c_in)
        return fc_f64_conv2d_depthwise(fc_direct_threads(d, &one), x, w, bias, y);
    const fc_status st = fc_conv_desc_check(d, x, w, y);
    if (st != FC_OK) return st;
    if (fc_conv_output_empty(d)) return FC_OK;
    d = fc_direct_threads(d, &one);
    switch (fc_active_isa()) {
#if FC_X86_64
    case FC_ISA_AVX512: return fc_f64_conv2d_direct__avx512(d, x, w, bias, y);
    case FC_ISA_AVX2: return fc_f64_conv2d_direct__avx2(d, x, w, bias, y);
#endif
    default: return fc_f64_conv2d_direct__scalar(d, x, w, bias, y);
    }
}

/* ---- the channel-blocked kernel ---------------------------------------------------------- */
#define FC_DIRECT_BLOCKED_ENTRIES(T, tn)                                                          \
    size_t fc_##tn##_conv2d_direct_blocked_workspace_size(const fc_conv2d_desc *d,               \
                                                          size_t budget_bytes) {                  \
        if (fc_conv_desc_check(d, d, d, d) != FC_OK || fc_conv_output_empty(d)) return 0;          \
        size_t need;                                                                              \
        switch (fc_active_isa()) {                                                                \
        FC_DIRECT_X86_CASES(need = fc_##tn##_conv2d_direct_blocked_workspace_size, (d))            \
        default: need = fc_##tn##_conv2d_direct_blocked_workspace_size__scalar(d); break;        \
        }                                                                                         \
        return need <= budget_bytes ? need : 0;                                                   \
    }                                                                                             \
    fc_status fc_##tn##_conv2d_direct_blocked(const fc_conv2d_desc *d, const T *x, const T *w,   \
                                              const T *bias, T *y, void *workspace,               \
                                              size_t workspace_bytes) {                           \
        fc_status st = fc_conv_desc_check(d, x, w, y);                                             \
        if (st != FC_OK) return st;                                                               \
        if (fc_conv_output_empty(d)) return FC_OK;                                                 \
        fc_conv2d_desc one;                                                                       \
        d = fc_direct_threads(d, &one);                                                           \
        switch (fc_active_isa()) {                                                                \
        FC_DIRECT_X86_CASES(st = fc_##tn##_conv2d_direct_blocked,                                  \
                            (d, x, w, bias, y, workspace, workspace_bytes))                       \
        default:                                                                                  \
            st = fc_##tn##_conv2d_direct_blocked__scalar(d, x, w, bias, y, workspace,             \
                                                         workspace_bytes);                        \
            break;                                                                                \
        }                                                                                         \
        return st;                                                                                \
    }
#if FC_X86_64
#define FC_DIRECT_X86_CASES(call, args)                                                           \
    case FC_ISA_AVX512: call##__avx512 args; break;                                               \
    case FC_ISA_AVX2: call##__avx2 args; break;
#else
#define FC_DIRECT_X86_CASES(call, args)
#endif
FC_DIRECT_BLOCKED_ENTRIES(float, f32)
FC_DIRECT_BLOCKED_ENTRIES(double, f64)
