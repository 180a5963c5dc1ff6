/* FFT plans (factorisation, root tables) and the raw transforms' public entry points.
 *
 * Plans are built in caller memory (kernels never allocate): the *_workspace_size queries say
 * how much, and the entry points build the plan at the start of the workspace on every call;
 * building costs a few microseconds (n/8 sin/cos pairs). See fft_internal.h for the layouts. */
#include <math.h>
#include <string.h>

#include "fft_internal.h"

/* Radix order of the Stockham passes: 8s, then one 4 or 2 (moved to the front, as pocketfft
 * does with its 2, so the small radix runs where ido is largest), then odd factors in
 * increasing order; any prime above 5 takes the generic O(p^2) pass. */
static int factorise(int64_t n, int32_t *radix) {
    int np = 0;
    while (n % 8 == 0) { radix[np++] = 8; n /= 8; }
    const int32_t small = (n % 4 == 0) ? 4 : (n % 2 == 0) ? 2 : 0;
    if (small) {
        n /= small;
        for (int i = np; i > 0; i--) radix[i] = radix[i - 1];
        radix[0] = small;
        np++;
    }
    for (int64_t p = 3; p * p <= n; p += 2)
        while (n % p == 0) { radix[np++] = (int32_t)p; n /= p; }
    if (n > 1) radix[np++] = (int32_t)n;
    return np;
}

/* cos and sin of 2 pi m / n for all m < n, in double. With n divisible by 8, one sin/cos pair
 * per octant point fills all eight symmetric entries exactly (the table is then exactly
 * symmetric, and building it costs n/8 pairs); otherwise one pair per entry. */
static void put_root(void *data, int dtb, int64_t off, int64_t m, double c, double s) {
    /* omega^m = exp(-2 pi i m / n) = cos - i sin */
    if (dtb == 4) {
        float *t = (float *)data + off;
        t[2 * m] = (float)c;
        t[2 * m + 1] = (float)-s;
    } else {
        double *t = (double *)data + off;
        t[2 * m] = c;
        t[2 * m + 1] = -s;
    }
}

static void fill_roots(void *data, int dtb, int64_t off, int64_t n) {
    const double two_pi = 6.283185307179586476925286766559;
    if (n % 8 == 0) {
        const int64_t q = n / 4, hn = n / 2;
        for (int64_t m = 0; m <= n / 8; m++) {
            const double a = two_pi * (double)m / (double)n;
            const double c = cos(a), s = sin(a);
            put_root(data, dtb, off, m, c, s);
            put_root(data, dtb, off, q - m, s, c);
            put_root(data, dtb, off, q + m, -s, c);
            put_root(data, dtb, off, hn - m, -c, s);
            put_root(data, dtb, off, hn + m, -c, -s);
            put_root(data, dtb, off, 3 * q - m, -s, -c);
            put_root(data, dtb, off, 3 * q + m, s, -c);
            if (m > 0) put_root(data, dtb, off, n - m, c, -s);
        }
        return;
    }
    for (int64_t m = 0; m < n; m++) {
        /* reduce to [0, pi] by the conjugate symmetry so the argument stays small */
        const int64_t mm = (2 * m <= n) ? m : n - m;
        const double a = two_pi * (double)mm / (double)n;
        const double c = cos(a), s = (2 * m <= n) ? sin(a) : -sin(a);
        put_root(data, dtb, off, m, c, s);
    }
}

void fc_fft_sub_init(fc_fft_sub *s, int64_t n, int64_t rs, void *data, int64_t *used, int dtb) {
    memset(s, 0, sizeof *s);
    s->n = n;
    s->rs = rs;
    s->npass = factorise(n, s->radix);
    for (int i = 0; i < s->npass; i++)
        if (s->radix[i] > 5 && s->radix[i] != 8 && s->radix[i] > s->maxgen) s->maxgen = s->radix[i];
    const int64_t align = FC_FFT_ALIGN / dtb;
    s->root = fc_round_up(*used, align);
    *used = s->root + 2 * n * rs;
    if (data) fill_roots(data, dtb, s->root, n * rs);
}

void fc_fft_real_init(fc_fft_real *r, int64_t t, void *data, int64_t *used, int dtb) {
    r->t = t;
    if (t % 2 == 0)
        fc_fft_sub_init(&r->half, t / 2, 2, data, used, dtb);
    else
        fc_fft_sub_init(&r->half, t, 1, data, used, dtb);
}

int fc_fft_lanes(fc_isa isa, int dtb) {
    switch (isa) {
    case FC_ISA_AVX512: return 64 / dtb;
    case FC_ISA_AVX2: return 32 / dtb;
    default: return 16 / dtb;
    }
}

/* ---- raw transforms --------------------------------------------------------------------- */
/* kind: 0 complex 1-D (length n0), 1 real 1-D (n0), 2 real 2-D (n0 x n1, n0 even).
 * Workspace: header | root tables | buffers. 1-D: three vc buffers of n0 + 2 elements and the
 * generic-pass scratch; 2-D: also the n1 x nkhb spectrum. The raw transforms run on one thread:
 * they exist for tests and experiments, the convolution has its own drivers. */
static size_t raw_layout(fc_fft_raw_plan *p, int kind, int64_t n0, int64_t n1, int dtb,
                         void *ws) {
    memset(p, 0, sizeof *p);
    p->vl = fc_fft_lanes(fc_active_isa(), dtb);
    p->dtb = dtb;
    p->data_off = fc_round_up((int64_t)sizeof(fc_fft_raw_plan), FC_FFT_ALIGN);
    void *data = ws ? (char *)ws + p->data_off : NULL;
    int64_t used = 0;
    if (kind == 0) {
        p->ax0.t = 0;
        fc_fft_sub_init(&p->ax0.half, n0, 1, data, &used, dtb);
    } else {
        fc_fft_real_init(&p->ax0, n0, data, &used, dtb);
    }
    int64_t most = n0 + 2, gen = p->ax0.half.maxgen;
    if (kind == 2) {
        fc_fft_sub_init(&p->ax1, n1, 1, data, &used, dtb);
        most = FC_MAX(most, FC_MAX(n1, fc_round_up(n0 / 2 + 1, p->vl)) + 2); /* X: whole blocks */
        gen = FC_MAX(gen, p->ax1.maxgen);
    }
    p->buf_off = p->data_off + fc_round_up(used * dtb, FC_FFT_ALIGN);
    p->most = most;
    const int64_t vc_bytes = 2 * (int64_t)p->vl * dtb;
    int64_t bytes = p->buf_off + (4 * most + gen) * vc_bytes;
    if (kind == 2) bytes += n1 * fc_div_up(n0 / 2 + 1, p->vl) * vc_bytes;
    return (size_t)bytes;
}

static int raw_bad(int kind, int64_t n0, int64_t n1) {
    return n0 < 1 || (kind == 2 && (n1 < 1 || n0 % 2));
}

size_t fc_fft_workspace_size(int kind, int64_t n0, int64_t n1, int dtb) {
    fc_fft_raw_plan p;
    if (kind < 0 || kind > 2 || raw_bad(kind, n0, n1) || (dtb != 4 && dtb != 8)) return 0;
    return raw_layout(&p, kind, n0, n1, dtb, NULL);
}

#define RAW_DISPATCH(DT, FN, ARGS)                                                              \
    switch (fc_active_isa()) {                                                                  \
    case FC_ISA_AVX512: return fc_##DT##_##FN##__avx512 ARGS;                                   \
    case FC_ISA_AVX2: return fc_##DT##_##FN##__avx2 ARGS;                                       \
    default: return fc_##DT##_##FN##__scalar ARGS;                                              \
    }

#define RAW_ENTRY(DT, T)                                                                        \
    static fc_status DT##_raw_setup(fc_fft_raw_plan **pp, int kind, int64_t n0, int64_t n1,     \
                                    void *ws, size_t ws_bytes) {                                \
        if (raw_bad(kind, n0, n1) || !ws || (uintptr_t)ws % FC_FFT_ALIGN)                       \
            return FC_ERR_INVALID_ARGUMENT;                                                     \
        fc_fft_raw_plan tmp;                                                                    \
        if (raw_layout(&tmp, kind, n0, n1, sizeof(T), NULL) > ws_bytes)                         \
            return FC_ERR_WORKSPACE_TOO_SMALL;                                                  \
        *pp = (fc_fft_raw_plan *)ws;                                                            \
        raw_layout(*pp, kind, n0, n1, sizeof(T), ws);                                           \
        return FC_OK;                                                                           \
    }                                                                                           \
    fc_status fc_##DT##_cfft(int64_t n, int64_t howmany, const T *x, T *y, int inverse,         \
                             void *ws, size_t ws_bytes) {                                       \
        fc_fft_raw_plan *p;                                                                     \
        if (howmany < 0 || !x || !y) return FC_ERR_INVALID_ARGUMENT;                            \
        fc_status st = DT##_raw_setup(&p, 0, n, 0, ws, ws_bytes);                               \
        if (st != FC_OK) return st;                                                             \
        RAW_DISPATCH(DT, cfft, (p, howmany, x, y, inverse, ws))                                 \
    }                                                                                           \
    fc_status fc_##DT##_rfft(int64_t n, int64_t howmany, const T *x, T *y, void *ws,            \
                             size_t ws_bytes) {                                                 \
        fc_fft_raw_plan *p;                                                                     \
        if (howmany < 0 || !x || !y) return FC_ERR_INVALID_ARGUMENT;                            \
        fc_status st = DT##_raw_setup(&p, 1, n, 0, ws, ws_bytes);                               \
        if (st != FC_OK) return st;                                                             \
        RAW_DISPATCH(DT, rfft, (p, howmany, x, y, ws))                                          \
    }                                                                                           \
    fc_status fc_##DT##_irfft(int64_t n, int64_t howmany, const T *x, T *y, void *ws,           \
                              size_t ws_bytes) {                                                \
        fc_fft_raw_plan *p;                                                                     \
        if (howmany < 0 || !x || !y) return FC_ERR_INVALID_ARGUMENT;                            \
        fc_status st = DT##_raw_setup(&p, 1, n, 0, ws, ws_bytes);                               \
        if (st != FC_OK) return st;                                                             \
        RAW_DISPATCH(DT, irfft, (p, howmany, x, y, ws))                                         \
    }                                                                                           \
    fc_status fc_##DT##_rfft2(int64_t h, int64_t w, const T *x, T *y, void *ws,                 \
                              size_t ws_bytes) {                                                \
        fc_fft_raw_plan *p;                                                                     \
        if (!x || !y) return FC_ERR_INVALID_ARGUMENT;                                           \
        fc_status st = DT##_raw_setup(&p, 2, h, w, ws, ws_bytes);                               \
        if (st != FC_OK) return st;                                                             \
        RAW_DISPATCH(DT, rfft2, (p, x, y, ws))                                                  \
    }                                                                                           \
    fc_status fc_##DT##_irfft2(int64_t h, int64_t w, const T *x, T *y, void *ws,                \
                               size_t ws_bytes) {                                               \
        fc_fft_raw_plan *p;                                                                     \
        if (!x || !y) return FC_ERR_INVALID_ARGUMENT;                                           \
        fc_status st = DT##_raw_setup(&p, 2, h, w, ws, ws_bytes);                               \
        if (st != FC_OK) return st;                                                             \
        RAW_DISPATCH(DT, irfft2, (p, x, y, ws))                                                 \
    }

RAW_ENTRY(f32, float)
RAW_ENTRY(f64, double)
