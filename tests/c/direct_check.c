/* Stand-alone checker and micro-benchmark for the direct kernel, outside Python:
 *
 *   make -C tests/c check       random problems (every layout, stride, flip, pad, group, ISA)
 *                               under -fsanitize=address,undefined, arrays allocated to their
 *                               exact extent so any out-of-bounds read at a border is reported
 *   make -C tests/c bench       GF/s of one shape per ISA (no Python call overhead)
 *
 * Besides the ISAs this CPU runs, it instantiates conv_direct_impl.h a fourth time, "emu512":
 * the AVX-512 tile (KB=8, NV=3, 16 float / 8 double lanes) on portable GCC vector extensions,
 * with masked loads that touch only their lanes. So the tiling logic of the AVX-512 variant is
 * exercised (and sanitised) on machines without AVX-512; only its intrinsics are not.
 * Every problem runs through both kernels of each ISA: the w-vectorised one (no workspace) and,
 * where it applies, the channel-blocked one with a malloc'ed workspace of exactly the queried
 * size, so ASan also sees any access past the workspace. */
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conv_direct.h"

/* ---- the emulated AVX-512-shaped instance --------------------------------------------------- */
typedef float emu_v16sf __attribute__((vector_size(64)));
typedef double emu_v8df __attribute__((vector_size(64)));
static inline emu_v16sf emu_load_ps(const float *p) { emu_v16sf v; memcpy(&v, p, sizeof v); return v; }
static inline emu_v8df emu_load_pd(const double *p) { emu_v8df v; memcpy(&v, p, sizeof v); return v; }
static inline emu_v16sf emu_maskload_ps(const float *p, uint32_t m) {
    emu_v16sf v = {0};
    for (int i = 0; i < 16; i++) if ((m >> i) & 1) v[i] = p[i];
    return v;
}
static inline emu_v8df emu_maskload_pd(const double *p, uint32_t m) {
    emu_v8df v = {0};
    for (int i = 0; i < 8; i++) if ((m >> i) & 1) v[i] = p[i];
    return v;
}
#define EMU_MASK(lo, hi) ((((uint32_t)1 << (hi)) - 1u) & ~(((uint32_t)1 << (lo)) - 1u))

#define FC_ISA emu512
#define FC_KB FC_DIRECT_AVX512_KB
#define FC_NV FC_DIRECT_AVX512_NV
#define FC_BKB FC_DIRECT_AVX512_BKB
#define FC_BNW FC_DIRECT_AVX512_BNW
#define FC_T float
#define FC_TNAME f32
#define FC_VEC emu_v16sf
#define FC_VL 16
#define FC_VMASK uint32_t
#define FC_VZERO() ((emu_v16sf){0})
#define FC_VSET1(s) ((emu_v16sf){0} + (s))
#define FC_VLOAD(p) emu_load_ps(p)
#define FC_VSTORE(p, v) memcpy((p), &(v), sizeof(emu_v16sf))
#define FC_VFMA(a, b, c) ((a) * (b) + (c))
#define FC_VMASK_RANGE(lo, hi) EMU_MASK(lo, hi)
#define FC_VLOAD_MASK(p, m) emu_maskload_ps(p, m)
#include "conv_direct_impl.h"
#define FC_T double
#define FC_TNAME f64
#define FC_VEC emu_v8df
#define FC_VL 8
#define FC_VMASK uint32_t
#define FC_VZERO() ((emu_v8df){0})
#define FC_VSET1(s) ((emu_v8df){0} + (s))
#define FC_VLOAD(p) emu_load_pd(p)
#define FC_VSTORE(p, v) memcpy((p), &(v), sizeof(emu_v8df))
#define FC_VFMA(a, b, c) ((a) * (b) + (c))
#define FC_VMASK_RANGE(lo, hi) EMU_MASK(lo, hi)
#define FC_VLOAD_MASK(p, m) emu_maskload_pd(p, m)
#include "conv_direct_impl.h"

/* ---- problems --------------------------------------------------------------------------------- */
static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static int64_t rint_in(int64_t lo, int64_t hi) { return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1)); }
static double rnd_val(void) { return (double)(rnd() % 2001) / 1000.0 - 1.0; }

/* A strided 4-D array allocated to its exact extent: base points at element (0,0,0,0). */
typedef struct { double *mem; int64_t len; int64_t off; int64_t shape[4], stride[4]; } arr4;

static void arr_layout(arr4 *a, const int64_t shape[4], int perm_kind, int neg_mask) {
    /* perm_kind 0: row-major in logical order; 1: channels last (dims 0,2,3,1); 2: random
     * permutation with gaps. neg_mask: dims walked backwards. */
    int order[4] = {0, 1, 2, 3};
    if (perm_kind == 1) { order[0] = 0; order[1] = 2; order[2] = 3; order[3] = 1; }
    if (perm_kind == 2)
        for (int i = 3; i > 0; i--) { int j = (int)(rnd() % (uint64_t)(i + 1)), t = order[i]; order[i] = order[j]; order[j] = t; }
    int64_t st = 1;
    for (int i = 3; i >= 0; i--) {
        const int dim = order[i];
        a->stride[dim] = st;
        st *= shape[dim] + (perm_kind == 2 ? rint_in(0, 2) : 0);
    }
    int64_t lo = 0, hi = 0;
    for (int i = 0; i < 4; i++) {
        a->shape[i] = shape[i];
        if ((neg_mask >> i) & 1) a->stride[i] = -a->stride[i];
        if (a->stride[i] > 0) hi += (shape[i] - 1) * a->stride[i];
        else lo += (shape[i] - 1) * a->stride[i];
    }
    a->len = hi - lo + 1;
    a->off = -lo;
}
static int64_t at(const arr4 *a, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
    return a->off + i0 * a->stride[0] + i1 * a->stride[1] + i2 * a->stride[2] + i3 * a->stride[3];
}

typedef struct { fc_conv2d_desc d; int64_t pad_bottom, pad_right; int x_kind, y_kind, w_neg, bias_kind; } problem;

static void naive(const problem *p, const arr4 *x, const arr4 *w, const double *bias, double *ref) {
    const fc_conv2d_desc *d = &p->d;
    const int64_t cg = d->c_in / d->groups, kg = d->c_out / d->groups;
    for (int64_t b = 0; b < d->n; b++) for (int64_t k = 0; k < d->c_out; k++)
    for (int64_t i = 0; i < d->h_out; i++) for (int64_t j = 0; j < d->w_out; j++) {
        double acc = bias ? bias[k] : 0.0;
        for (int64_t c = 0; c < cg; c++) for (int64_t r = 0; r < d->kh; r++) for (int64_t s = 0; s < d->kw; s++) {
            const int64_t ih = i * d->stride_h + r * d->dil_h - d->pad_top, iw = j * d->stride_w + s * d->dil_w - d->pad_left;
            if (ih < 0 || ih >= d->h || iw < 0 || iw >= d->w) continue;
            acc += w->mem[at(w, k, c, r, s)] * x->mem[at(x, b, (k / kg) * cg + c, ih, iw)];
        }
        ref[((b * d->c_out + k) * d->h_out + i) * d->w_out + j] = acc;
    }
}

typedef fc_status (*kern32)(const fc_conv2d_desc *, const float *, const float *, const float *, float *);
typedef fc_status (*kern64)(const fc_conv2d_desc *, const double *, const double *, const double *, double *);
static const char *isa_names[] = {"scalar", "avx2", "avx512", "emu512"};

/* Runs kernel `isa` (0-2: the public entry under fc_set_isa_limit, 3: emu512) in float32 or
 * float64 on exactly-sized copies; returns the normwise relative error, or INFINITY when a NaN
 * appears in y or an element outside y's logical extent was written. */
static double run_one(const problem *p, const arr4 *x, const arr4 *w, const double *bias, int64_t bias_stride,
                      const arr4 *y, const double *ref, int isa, int f64, int blocked) {
    const fc_conv2d_desc *d = &p->d;
    const size_t es = f64 ? sizeof(double) : sizeof(float);
    void *xm = malloc(x->len * es), *wm = malloc(w->len * es), *ym = malloc(y->len * es);
    void *bm = bias ? malloc(((d->c_out - 1) * bias_stride + 1) * es) : NULL;
    for (int64_t e = 0; e < x->len; e++) { if (f64) ((double *)xm)[e] = x->mem[e]; else ((float *)xm)[e] = (float)x->mem[e]; }
    for (int64_t e = 0; e < w->len; e++) { if (f64) ((double *)wm)[e] = w->mem[e]; else ((float *)wm)[e] = (float)w->mem[e]; }
    for (int64_t e = 0; e < y->len; e++) { if (f64) ((double *)ym)[e] = NAN; else ((float *)ym)[e] = NAN; }
    if (bias) for (int64_t k = 0; k < (d->c_out - 1) * bias_stride + 1; k++) {
        const double v = (k % bias_stride == 0) ? bias[k / bias_stride] : NAN;
        if (f64) ((double *)bm)[k] = v; else ((float *)bm)[k] = (float)v;
    }
    fc_status st;
    if (isa <= 2) fc_set_isa_limit((fc_isa)isa);
    size_t wsb = 0;
    if (blocked) {
        wsb = isa == 3 ? (f64 ? fc_f64_conv2d_direct_blocked_workspace_size__emu512(d)
                              : fc_f32_conv2d_direct_blocked_workspace_size__emu512(d))
                       : (f64 ? fc_f64_conv2d_direct_blocked_workspace_size(d, (size_t)1 << 40)
                              : fc_f32_conv2d_direct_blocked_workspace_size(d, (size_t)1 << 40));
        if (wsb == 0) { free(xm); free(wm); free(ym); free(bm); return -1.0; } /* not for d */
    }
    void *ws = blocked ? malloc(wsb) : NULL;
    if (f64) {
        const double *xp = (double *)xm + x->off, *wp = (double *)wm + w->off;
        double *yp = (double *)ym + y->off;
        if (blocked && isa == 3) st = fc_f64_conv2d_direct_blocked__emu512(d, xp, wp, bm, yp, ws, wsb);
        else if (blocked) st = fc_f64_conv2d_direct_blocked(d, xp, wp, bm, yp, ws, wsb);
        else if (isa == 3) st = fc_f64_conv2d_direct__emu512(d, xp, wp, bm, yp);
        else st = fc_f64_conv2d_direct(d, xp, wp, bm, yp);
    } else {
        const float *xp = (float *)xm + x->off, *wp = (float *)wm + w->off;
        float *yp = (float *)ym + y->off;
        if (blocked && isa == 3) st = fc_f32_conv2d_direct_blocked__emu512(d, xp, wp, bm, yp, ws, wsb);
        else if (blocked) st = fc_f32_conv2d_direct_blocked(d, xp, wp, bm, yp, ws, wsb);
        else if (isa == 3) st = fc_f32_conv2d_direct__emu512(d, xp, wp, bm, yp);
        else st = fc_f32_conv2d_direct(d, xp, wp, bm, yp);
    }
    free(ws);
    double num = 0, den = 0;
    int bad = st != FC_OK;
    char *written = calloc(y->len, 1);
    for (int64_t b = 0; b < d->n; b++) for (int64_t k = 0; k < d->c_out; k++)
    for (int64_t i = 0; i < d->h_out; i++) for (int64_t j = 0; j < d->w_out; j++) {
        const int64_t e = at(y, b, k, i, j);
        const double v = f64 ? ((double *)ym)[e] : ((float *)ym)[e];
        const double r = ref[((b * d->c_out + k) * d->h_out + i) * d->w_out + j];
        written[e] = 1;
        if (isnan(v)) bad = 1;
        num += (v - r) * (v - r);
        den += r * r;
    }
    for (int64_t e = 0; e < y->len; e++)
        if (!written[e] && !isnan(f64 ? ((double *)ym)[e] : ((float *)ym)[e])) bad = 1;
    free(written); free(xm); free(wm); free(ym); free(bm);
    if (bad) return INFINITY;
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static void random_problem(problem *p, int64_t it) {
    fc_conv2d_desc *d = &p->d;
    memset(p, 0, sizeof *p);
    const int kind = (int)(it % 8);
    d->groups = kind == 1 ? rint_in(2, 3) : 1;
    int64_t cg = rint_in(1, 5), kg = rnd() % 3 == 0 ? rint_in(12, 40) : rint_in(1, 11);
    if (kind == 2) { d->groups = rint_in(2, 9); cg = 1; kg = rint_in(1, 2); } /* depthwise (x multiplier) */
    d->c_in = cg * d->groups;
    d->c_out = kg * d->groups;
    d->n = rint_in(1, 2);
    d->kh = rint_in(1, 4);
    d->kw = kind == 3 ? rint_in(15, 19) : rint_in(1, 6);
    d->stride_h = rint_in(1, 2);
    d->stride_w = kind == 4 ? rint_in(2, 4) : (rnd() % 4 == 0 ? 2 : 1);
    d->dil_h = rint_in(1, 2);
    d->dil_w = rnd() % 4 == 0 ? rint_in(2, 3) : 1;
    d->h = rint_in(1, 9);
    d->w = rint_in(1, 75);
    d->pad_top = rint_in(0, 4);
    d->pad_left = rnd() % 3 == 0 ? rint_in(5, 20) : rint_in(0, 3);
    p->pad_bottom = rint_in(0, 4);
    p->pad_right = rint_in(0, 9);
    if (kind == 5) { /* conv1d */
        d->h = d->kh = 1; d->pad_top = p->pad_bottom = 0; d->stride_h = d->dil_h = 1;
        d->w = rint_in(1, 300);
    }
    if (kind == 6 && it % 16 == 6) { /* generic path: span / stride_w past the packed buffer */
        d->kw = 3; d->dil_w = 2100; d->w = rint_in(4200, 4400); d->stride_w = rint_in(1, 2);
        d->h = d->kh = 1; d->pad_top = p->pad_bottom = 0;
    }
    /* Make the padded input at least one kernel span. */
    while (d->h + d->pad_top + p->pad_bottom < d->dil_h * (d->kh - 1) + 1) p->pad_bottom++;
    while (d->w + d->pad_left + p->pad_right < d->dil_w * (d->kw - 1) + 1) p->pad_right++;
    d->h_out = (d->h + d->pad_top + p->pad_bottom - d->dil_h * (d->kh - 1) - 1) / d->stride_h + 1;
    d->w_out = (d->w + d->pad_left + p->pad_right - d->dil_w * (d->kw - 1) - 1) / d->stride_w + 1;
    d->nthreads = (int)rint_in(1, 3);
    p->x_kind = (int)(rnd() % 3);
    p->y_kind = (int)(rnd() % 3);
    p->w_neg = rnd() % 3 == 0 ? 0xC : 0; /* flip: kh, kw walked backwards */
    p->bias_kind = (int)(rnd() % 3);     /* none, contiguous, strided */
}

static int check(int64_t iters) {
    int failures = 0;
    int64_t ran_blocked = 0;
    const int max_isa = (int)fc_cpu_isa();
    for (int64_t it = 0; it < iters; it++) {
        problem p;
        random_problem(&p, it);
        fc_conv2d_desc *d = &p.d;
        arr4 x, w, y;
        const int64_t xs[4] = {d->n, d->c_in, d->h, d->w}, ws[4] = {d->c_out, d->c_in / d->groups, d->kh, d->kw},
                      ys[4] = {d->n, d->c_out, d->h_out, d->w_out};
        arr_layout(&x, xs, p.x_kind, p.x_kind == 2 ? (int)(rnd() % 16) : 0);
        arr_layout(&w, ws, p.x_kind == 1 ? 1 : 0, p.w_neg);
        arr_layout(&y, ys, p.y_kind, 0);
        x.mem = malloc(x.len * sizeof(double));
        w.mem = malloc(w.len * sizeof(double));
        for (int64_t e = 0; e < x.len; e++) x.mem[e] = NAN; /* gaps: a read of one poisons y */
        for (int64_t e = 0; e < w.len; e++) w.mem[e] = NAN;
        for (int64_t a0 = 0; a0 < xs[0]; a0++) for (int64_t a1 = 0; a1 < xs[1]; a1++)
            for (int64_t a2 = 0; a2 < xs[2]; a2++) for (int64_t a3 = 0; a3 < xs[3]; a3++) x.mem[at(&x, a0, a1, a2, a3)] = rnd_val();
        for (int64_t a0 = 0; a0 < ws[0]; a0++) for (int64_t a1 = 0; a1 < ws[1]; a1++)
            for (int64_t a2 = 0; a2 < ws[2]; a2++) for (int64_t a3 = 0; a3 < ws[3]; a3++) w.mem[at(&w, a0, a1, a2, a3)] = rnd_val();
        double *bias = NULL;
        int64_t bias_stride = p.bias_kind == 2 ? 3 : 1;
        if (p.bias_kind) { bias = malloc(d->c_out * sizeof(double)); for (int64_t k = 0; k < d->c_out; k++) bias[k] = rnd_val(); }
        d->x_stride[0] = x.stride[0]; d->x_stride[1] = x.stride[1]; d->x_stride[2] = x.stride[2]; d->x_stride[3] = x.stride[3];
        memcpy(d->w_stride, w.stride, sizeof w.stride);
        memcpy(d->y_stride, y.stride, sizeof y.stride);
        d->bias_stride = bias_stride;
        double *ref = malloc(d->n * d->c_out * d->h_out * d->w_out * sizeof(double));
        naive(&p, &x, &w, bias, ref);
        for (int isa = 0; isa <= 3; isa++) {
            if (isa <= 2 && isa > max_isa) continue;
            for (int f64 = 0; f64 <= 1; f64++) for (int blocked = 0; blocked <= 1; blocked++) {
                const double err = run_one(&p, &x, &w, bias, bias_stride, &y, ref, isa, f64, blocked);
                if (err < 0) continue; /* the blocked kernel does not take this problem */
                ran_blocked += blocked;
                if (!(err <= (f64 ? 1e-12 : 2e-6))) {
                    failures++;
                    printf("FAIL it=%lld isa=%s%s %s err=%g: n%lld c%lld h%lld w%lld k%lld r%lld s%lld g%lld st%lldx%lld "
                           "dil%lldx%lld pad t%lld l%lld b%lld r%lld out %lldx%lld xk%d yk%d wneg%d bias%d thr%d\n",
                           (long long)it, isa_names[isa], blocked ? "/blocked" : "", f64 ? "f64" : "f32", err, (long long)d->n, (long long)d->c_in,
                           (long long)d->h, (long long)d->w, (long long)d->c_out, (long long)d->kh, (long long)d->kw,
                           (long long)d->groups, (long long)d->stride_h, (long long)d->stride_w, (long long)d->dil_h,
                           (long long)d->dil_w, (long long)d->pad_top, (long long)d->pad_left, (long long)p.pad_bottom,
                           (long long)p.pad_right, (long long)d->h_out, (long long)d->w_out, p.x_kind, p.y_kind, p.w_neg,
                           p.bias_kind, d->nthreads);
                }
            }
        }
        free(ref); free(bias); free(x.mem); free(w.mem);
    }
    fc_set_isa_limit(fc_cpu_isa());
    printf("%lld random problems x every ISA (%s and emu512) x f32/f64 x {w-vectorised, blocked "
           "(%lld runs)}: %d failures\n", (long long)iters, isa_names[max_isa], (long long)ran_blocked, failures);
    return failures != 0;
}

/* Process CPU time: with one thread it counts only the time this process ran, which keeps
 * single-thread measurements steady on a machine shared with other jobs. */
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* bench N C H W K R S PAD STRIDE THREADS */
static int bench(int argc, char **argv) {
    fc_conv2d_desc d;
    memset(&d, 0, sizeof d);
    if (argc < 12) { fprintf(stderr, "bench N C H W K R S PAD STRIDE THREADS\n"); return 2; }
    d.n = atoll(argv[2]); d.c_in = atoll(argv[3]); d.h = atoll(argv[4]); d.w = atoll(argv[5]);
    d.c_out = atoll(argv[6]); d.kh = atoll(argv[7]); d.kw = atoll(argv[8]);
    d.pad_top = d.pad_left = atoll(argv[9]); d.stride_h = d.stride_w = atoll(argv[10]); d.nthreads = atoi(argv[11]);
    d.dil_h = d.dil_w = 1; d.groups = 1;
    d.h_out = (d.h + 2 * d.pad_top - d.kh) / d.stride_h + 1;
    d.w_out = (d.w + 2 * d.pad_left - d.kw) / d.stride_w + 1;
    int64_t xs[4] = {d.c_in * d.h * d.w, d.h * d.w, d.w, 1}, ws[4] = {d.c_in * d.kh * d.kw, d.kh * d.kw, d.kw, 1},
            ys[4] = {d.c_out * d.h_out * d.w_out, d.h_out * d.w_out, d.w_out, 1};
    memcpy(d.x_stride, xs, sizeof xs); memcpy(d.w_stride, ws, sizeof ws); memcpy(d.y_stride, ys, sizeof ys);
    float *x = malloc(d.n * xs[0] * sizeof(float)), *w = malloc(d.c_out * ws[0] * sizeof(float)), *y = malloc(d.n * ys[0] * sizeof(float));
    for (int64_t e = 0; e < d.n * xs[0]; e++) x[e] = (float)rnd_val();
    for (int64_t e = 0; e < d.c_out * ws[0]; e++) w[e] = (float)rnd_val();
    const double flops = 2.0 * d.n * d.c_out * d.c_in * d.kh * d.kw * d.h_out * d.w_out;
    for (int isa = (int)fc_cpu_isa(); isa >= 0; isa--) for (int blocked = 1; blocked >= 0; blocked--) {
        fc_set_isa_limit((fc_isa)isa);
        const size_t wsb = blocked ? fc_f32_conv2d_direct_blocked_workspace_size(&d, (size_t)1 << 40) : 0;
        if (blocked && !wsb) continue;
        void *ws = blocked ? malloc(wsb) : NULL;
        double best = 1e30, phase[3] = {1e30, 1e30, 1e30};
        for (int rep = 0; rep < 7; rep++) {
            int inner = 0;
            const double t0 = now();
            double t1;
            do {
                fc_profile prof;
                memset(&prof, 0, sizeof prof);
                d.profile = &prof;
                if (blocked) fc_f32_conv2d_direct_blocked(&d, x, w, NULL, y, ws, wsb);
                else fc_f32_conv2d_direct(&d, x, w, NULL, y);
                if (prof.kernel_transform < phase[0]) phase[0] = prof.kernel_transform;
                if (prof.input_transform < phase[1]) phase[1] = prof.input_transform;
                if (prof.multiply < phase[2]) phase[2] = prof.multiply;
                inner++;
                t1 = now();
            } while (t1 - t0 < 0.05);
            if ((t1 - t0) / inner < best) best = (t1 - t0) / inner;
        }
        printf("%-6s %-13s %8.1f us %7.1f GF/s (CPU time%s)", isa_names[isa], blocked ? "blocked" : "w-vectorised",
               best * 1e6 / d.nthreads, flops / best * 1e-9 * d.nthreads, d.nthreads > 1 ? " / threads" : "");
        if (blocked)
            printf("  fastest phases (wall): pack w %.1f us, pack x %.1f us, loops %.1f us (%.1f GF/s)", phase[0] * 1e6,
                   phase[1] * 1e6, phase[2] * 1e6, flops / phase[2] * 1e-9);
        printf("\n");
        d.profile = NULL;
        free(ws);
    }
    fc_set_isa_limit(fc_cpu_isa());
    free(x); free(w); free(y);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "bench") == 0) return bench(argc, argv);
    return check(argc > 1 ? atoll(argv[1]) : 400);
}
