/* Private helpers for the C kernels: never seen by cffi (see fastconv.h for the public side). */
#ifndef FASTCONV_INTERNAL_H
#define FASTCONV_INTERNAL_H

#include "fastconv.h"
#include "parallel.h"

#if defined(__x86_64__) || defined(_M_X64)
#define FC_X86_64 1
#else
#define FC_X86_64 0
#endif

/* Per-file instruction-set targets. A kernel file for one ISA opens with
 * FC_BEGIN_TARGET(FC_TARGET_AVX2) and closes with FC_END_TARGET, so the default build needs no
 * -march flag and still emits AVX2/AVX-512 code for those functions alone; fc_active_isa()
 * decides at run time which of them may execute. */
#define FC_TARGET_AVX2 "avx2,fma"
#define FC_TARGET_AVX512 "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"

#define FC_PRAGMA_STR(x) #x
#if defined(__clang__)
#define FC_BEGIN_TARGET(t) \
    _Pragma(FC_PRAGMA_STR(clang attribute push(__attribute__((target(t))), apply_to = function)))
#define FC_END_TARGET _Pragma("clang attribute pop")
#elif defined(__GNUC__)
#define FC_BEGIN_TARGET(t) _Pragma("GCC push_options") _Pragma(FC_PRAGMA_STR(GCC target(t)))
#define FC_END_TARGET _Pragma("GCC pop_options")
#else
#error "fastconv's ISA-specific kernels need GCC or Clang (target pragmas)"
#endif

/* Cache sizes per core in bytes (fc_set_cache_sizes; cpu_features.c), for block rules. */
int64_t fc_cache_l1d(void);
int64_t fc_cache_l2(void);
int64_t fc_cache_l3(void);

/* GCC turns short copy and zero loops into memcpy/memset calls (or `rep movs`), which cost
 * more than the few elements they move: a 7-wide row (depthwise packing), 512 bytes a time
 * (the Winograd kernel transform: half its time went to `rep movsq` start-up). Functions with
 * such loops opt out; an always_inline callee takes its caller's setting. */
#if defined(__GNUC__) && !defined(__clang__)
#define FC_NO_LIBCALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define FC_NO_LIBCALLS
#endif

/* Seconds for fc_profile: the wall clock (kernels run on several threads, so the caller's CPU
 * time would not be the call's duration). */
static inline double fc_now(void) { return fc_wall_seconds(); }

/* Profiling helpers: `double t = FC_PROFILE_START(d);` ... `FC_PROFILE_ADD(d, multiply, t);`
 * adds the seconds since t to d->profile->multiply and restarts t; both cost one branch when
 * d->profile is NULL. */
#define FC_PROFILE_START(d) ((d)->profile ? fc_now() : 0.0)
#define FC_PROFILE_ADD(d, field, t)                       \
    do {                                                  \
        if ((d)->profile) {                               \
            double fc_profile_now_ = fc_now();            \
            (d)->profile->field += fc_profile_now_ - (t); \
            (t) = fc_profile_now_;                        \
        }                                                 \
    } while (0)

#define FC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define FC_MAX(a, b) ((a) > (b) ? (a) : (b))

/* The safety net of a convolution entry point. Not argument validation (the Python API did
 * that): only descriptors no kernel could run, so a marshalling bug surfaces as
 * FC_ERR_INVALID_ARGUMENT instead of memory corruption. */
static inline fc_status fc_conv_desc_check(const fc_conv2d_desc *d, const void *x, const void *w,
                                           const void *y) {
    if (!d || !x || !w || !y || d->nthreads < 1) return FC_ERR_INVALID_ARGUMENT;
    if (d->n < 0 || d->c_in < 1 || d->h < 1 || d->w < 1 || d->c_out < 0 || d->kh < 1 ||
        d->kw < 1 || d->h_out < 0 || d->w_out < 0)
        return FC_ERR_INVALID_ARGUMENT;
    if (d->stride_h < 1 || d->stride_w < 1 || d->dil_h < 1 || d->dil_w < 1 || d->pad_top < 0 ||
        d->pad_left < 0)
        return FC_ERR_INVALID_ARGUMENT;
    if (d->groups < 1 || d->c_in % d->groups != 0 || d->c_out % d->groups != 0)
        return FC_ERR_INVALID_ARGUMENT;
    return FC_OK;
}

/* Whether the output has no element (the call then writes nothing and succeeds). */
static inline int fc_conv_output_empty(const fc_conv2d_desc *d) {
    return d->n == 0 || d->c_out == 0 || d->h_out == 0 || d->w_out == 0;
}

/* Ceiling division for non-negative a and positive b. */
static inline int64_t fc_div_up(int64_t a, int64_t b) { return (a + b - 1) / b; }

#endif /* FASTCONV_INTERNAL_H */
