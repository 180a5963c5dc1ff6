/* direct:c entry points: a cheap safety net on the descriptor, then the variant of the active
 * ISA (fc_active_isa()). The kernels themselves are in conv_direct_impl.h, instantiated per ISA
 * by conv_direct_scalar.c, conv_direct_avx2.c and conv_direct_avx512.c. */
#include "conv_direct.h"

#include <string.h>

/* Below this many multiply-adds a call runs on one thread: handing work to a second thread
 * costs about as much as the second core saves (the (1, 8, 4, 4) x (8, 8, 1, 1) problem: 1.2
 * us per C call on one thread, 2.8 us on two with an OpenMP fork/join, Zen 4; waking a
 * sleeping pool thread is a futex syscall, a few us; 2^17 multiply-adds are ~3 us of one
 * core). Depthwise kernels do about an eighth of the multiply-adds per second (one per
 * loaded input vector instead of a register tile's worth; Zen 4, AVX-512, one thread: 4-6
 * GMAC/s on MobileNet's and ShuffleNet's 3x3 layers), so the same few microseconds are an
 * eighth of the multiply-adds: 240 x 14 x 14 -> 7 x 7 stride 2 (106k) took 28.4 us on one
 * thread, 20.1 us on two. */
#define FC_DIRECT_MIN_THREADED_MACS 131072.0
#define FC_DEPTHWISE_MIN_THREADED_MACS (FC_DIRECT_MIN_THREADED_MACS / 8)

/* d itself, or a copy of it in *one that asks for one thread when the problem is tiny. */
static const fc_conv2d_desc *fc_direct_threads(const fc_conv2d_desc *d, fc_conv2d_desc *one) {
    if (d->nthreads <= 1 || d->groups < 1) return d; /* the kernels' checks judge the rest */
    const double macs = (double)d->n * (double)d->c_out * (double)d->h_out * (double)d->w_out *
                        (double)(d->c_in / d->groups) * (double)d->kh * (double)d->kw;
    const double min_macs = d->groups == d->c_in ? FC_DEPTHWISE_MIN_THREADED_MACS
                                                 : FC_DIRECT_MIN_THREADED_MACS;
    if (macs >= min_macs) return d;
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
/* out = the variant for `isa` of call, applied to args (isa is a variable: the two-step form
 * runs the ISA its packed buffer was made for). */
#if FC_X86_64
#define FC_DIRECT_BY_ISA(isa, out, call, args)                                                    \
    switch (isa) {                                                                                \
    case FC_ISA_AVX512: out = call##__avx512 args; break;                                         \
    case FC_ISA_AVX2: out = call##__avx2 args; break;                                             \
    default: out = call##__scalar args; break;                                                    \
    }
#else
#define FC_DIRECT_BY_ISA(isa, out, call, args) out = call##__scalar args;
#endif

#define FC_DIRECT_BLOCKED_ENTRIES(T, tn)                                                          \
    size_t fc_##tn##_conv2d_direct_blocked_workspace_size(const fc_conv2d_desc *d,               \
                                                          size_t budget_bytes) {                  \
        if (fc_conv_desc_check(d, d, d, d) != FC_OK || fc_conv_output_empty(d)) return 0;          \
        size_t need;                                                                              \
        FC_DIRECT_BY_ISA(fc_active_isa(), need, fc_##tn##_conv2d_direct_blocked_workspace_size,   \
                         (d))                                                                     \
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
        FC_DIRECT_BY_ISA(fc_active_isa(), st, fc_##tn##_conv2d_direct_blocked,                    \
                         (d, x, w, bias, y, workspace, workspace_bytes))                          \
        return st;                                                                                \
    }
FC_DIRECT_BLOCKED_ENTRIES(float, f32)
FC_DIRECT_BLOCKED_ENTRIES(double, f64)

/* ---- which of the two kernels --------------------------------------------------------------- */
/* Output channels of a block of the blocked kernel on `isa` (FC_BKB vectors). */
static int64_t fc_direct_block_channels(fc_isa isa, int dtype_bytes) {
    switch (isa) {
#if FC_X86_64
    case FC_ISA_AVX512: return FC_DIRECT_AVX512_BKB * (64 / dtype_bytes);
    case FC_ISA_AVX2: return FC_DIRECT_AVX2_BKB * (32 / dtype_bytes);
#endif
    default: return FC_DIRECT_SCALAR_BKB;
    }
}

int fc_direct_blocked_preferred(const fc_conv2d_desc *d, int dtype_bytes) {
    if (!d || d->groups < 1 || d->c_out < 1 || (dtype_bytes != 4 && dtype_bytes != 8)) return 0;
    const int64_t ob = fc_direct_block_channels(fc_active_isa(), dtype_bytes);
    const int64_t kg = d->c_out / d->groups;
    const int64_t padded = fc_div_up(kg, ob) * ob;
    if ((double)kg < FC_DIRECT_BLOCKED_MIN_FILL * (double)padded) return 0;
    const int64_t reduction = (d->c_in / d->groups) * d->kh * d->kw;
    const int channels_last_y = d->y_stride[1] == 1 && d->c_out > 1;
    if (!channels_last_y && d->stride_w == 1 && reduction < FC_DIRECT_BLOCKED_MIN_REDUCTION)
        return 0;
    return 1;
}

/* ---- the channel-blocked kernel in two steps (weights packed once) ----------------------- */
#define FC_DIRECT_PACKED_MAGIC 0x44697262u /* "Dirb" */
#define FC_DIRECT_PACKED_HEADER 64         /* bytes before the packed weights */

/* What a packed buffer was made for; apply refuses a buffer made for another problem. */
typedef struct fc_direct_packed_header {
    uint32_t magic;
    int32_t isa, dtype_bytes;
    int64_t groups, c_in, c_out, kh, kw;
} fc_direct_packed_header;

static int fc_direct_packed_matches(const fc_direct_packed_header *h, const fc_conv2d_desc *d,
                                    int dtype_bytes) {
    return h->magic == FC_DIRECT_PACKED_MAGIC && h->dtype_bytes == dtype_bytes &&
           h->groups == d->groups && h->c_in == d->c_in && h->c_out == d->c_out &&
           h->kh == d->kh && h->kw == d->kw && h->isa >= FC_ISA_SCALAR && h->isa <= FC_ISA_AVX512;
}

#define FC_DIRECT_PACKED_ENTRIES(T, tn)                                                           \
    size_t fc_##tn##_conv2d_direct_blocked_packed_size(const fc_conv2d_desc *d) {                \
        if (fc_conv_desc_check(d, d, d, d) != FC_OK || fc_conv_output_empty(d)) return 0;          \
        size_t bytes;                                                                             \
        FC_DIRECT_BY_ISA(fc_active_isa(), bytes, fc_##tn##_conv2d_direct_blocked_packed_bytes,    \
                         (d))                                                                     \
        return bytes ? FC_DIRECT_PACKED_HEADER + bytes : 0;                                       \
    }                                                                                             \
    fc_status fc_##tn##_conv2d_direct_blocked_pack(const fc_conv2d_desc *d, const T *w,           \
                                                   void *packed, size_t packed_bytes) {           \
        fc_status st = fc_conv_desc_check(d, w, w, packed);                                       \
        if (st != FC_OK) return st;                                                               \
        const size_t need = fc_##tn##_conv2d_direct_blocked_packed_size(d);                       \
        if (need == 0) return FC_ERR_UNSUPPORTED;                                                 \
        if (packed_bytes < need || (uintptr_t)packed % 64 != 0) return FC_ERR_INVALID_ARGUMENT;  \
        const fc_isa isa = fc_active_isa();                                                       \
        const fc_direct_packed_header h = {FC_DIRECT_PACKED_MAGIC, (int32_t)isa,                  \
                                           (int32_t)sizeof(T), d->groups, d->c_in, d->c_out,     \
                                           d->kh, d->kw};                                         \
        memcpy(packed, &h, sizeof h);                                                             \
        fc_conv2d_desc one;                                                                       \
        d = fc_direct_threads(d, &one);                                                           \
        T *const wp = (T *)((char *)packed + FC_DIRECT_PACKED_HEADER);                            \
        FC_DIRECT_BY_ISA(isa, st, fc_##tn##_conv2d_direct_blocked_pack, (d, w, wp))               \
        return st;                                                                                \
    }                                                                                             \
    size_t fc_##tn##_conv2d_direct_blocked_apply_workspace_size(const fc_conv2d_desc *d,          \
                                                                const void *packed) {             \
        fc_direct_packed_header h;                                                                \
        if (!packed || fc_conv_desc_check(d, d, d, d) != FC_OK) return 0;                         \
        memcpy(&h, packed, sizeof h);                                                             \
        if (!fc_direct_packed_matches(&h, d, sizeof(T))) return 0;                                \
        size_t bytes;                                                                             \
        FC_DIRECT_BY_ISA(h.isa, bytes, fc_##tn##_conv2d_direct_blocked_apply_workspace_size, (d)) \
        return bytes;                                                                             \
    }                                                                                             \
    fc_status fc_##tn##_conv2d_direct_blocked_apply(const fc_conv2d_desc *d, const void *packed, \
                                                    const T *x, const T *bias, T *y,              \
                                                    void *workspace, size_t workspace_bytes) {    \
        fc_status st = fc_conv_desc_check(d, x, packed, y);                                       \
        if (st != FC_OK) return st;                                                               \
        fc_direct_packed_header h;                                                                \
        memcpy(&h, packed, sizeof h);                                                             \
        if (!fc_direct_packed_matches(&h, d, sizeof(T)) || (uintptr_t)packed % 64 != 0)          \
            return FC_ERR_INVALID_ARGUMENT;                                                       \
        if (h.isa > (int32_t)fc_cpu_isa()) return FC_ERR_ISA_UNAVAILABLE;                         \
        if (fc_conv_output_empty(d)) return FC_OK;                                                \
        fc_conv2d_desc one;                                                                       \
        d = fc_direct_threads(d, &one);                                                           \
        const T *const wp = (const T *)((const char *)packed + FC_DIRECT_PACKED_HEADER);          \
        FC_DIRECT_BY_ISA(h.isa, st, fc_##tn##_conv2d_direct_blocked_apply,                        \
                         (d, wp, x, bias, y, workspace, workspace_bytes))                         \
        return st;                                                                                \
    }
FC_DIRECT_PACKED_ENTRIES(float, f32)
FC_DIRECT_PACKED_ENTRIES(double, f64)
