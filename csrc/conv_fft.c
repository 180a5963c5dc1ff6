/* FFT convolution: tile choice (the cost model), plan layout, size queries, ISA dispatch.
 * The drivers are in conv_fft_impl.h; the layouts in fft_internal.h. */
#include <string.h>

#include "fft_internal.h"

/* ---- cost model ------------------------------------------------------------------------------
 * Estimated nanoseconds of one call (kernel spectra included), from per-element costs of the
 * stages. The relative costs of the stages are set from their operation counts (flops and
 * vc loads/stores per element and pass); the common scale was fitted to measured times.
 * Machine: AMD EPYC Zen 4 VM, AVX2 (8 float lanes), 2 cores shared with other jobs;
 * 2026-11-29; checked with `PYTHONPATH=. python bench/bench_fft.py --sweep N --threads T` for
 * the six cases of bench_fft.py (the chosen tiling lies within the measurement noise, about 10%, of
 * the best one measured, and never in the slow corners: tiles barely larger than the kernel,
 * or working sets beyond L2). They only need to rank tilings; the dispatcher that compares
 * algorithms should refit the scale. */
#define COST_SCALE 2.5
#define COST_PASS_2 (COST_SCALE * 1.0) /* ns per vc element per radix-2 pass */
#define COST_PASS_3 (COST_SCALE * 1.4)
#define COST_PASS_4 (COST_SCALE * 1.3) /* two radix-2 levels */
#define COST_PASS_5 (COST_SCALE * 1.9)
#define COST_PASS_8 (COST_SCALE * 1.7) /* three levels */
#define COST_PASS_P (COST_SCALE * 0.45) /* generic pass: per element and per unit of radix */
#define COST_MOVE (COST_SCALE * 1.0)    /* gather / split step / transpose / scatter, per vc */
#define COST_CMAC_2D (COST_SCALE * 0.45) /* per vc complex multiply-add, W streamed */
#define COST_CMAC_1D (COST_SCALE * 0.30) /* per vc complex multiply-add, W broadcast */
#define COST_STAGE 5000.0 /* per work-shared stage of a 2-D tile when threads > 1 (loaded
                             machine: a stage ends when its last chunk does, late if the thread
                             holding it lost its core) */
#define COST_L2_BYTES (0.75 * (double)fc_cache_l2()) /* working sets above this pay COST_SPILL
                                                      per element */
#define COST_SPILL 0.6

static int is_smooth(int64_t n) {
    if (n < 1) return 0;
    while (n % 2 == 0) n /= 2;
    while (n % 3 == 0) n /= 3;
    while (n % 5 == 0) n /= 5;
    return n == 1;
}

/* cost of a complex FFT of length n on one vc lane group */
static double cfft_cost(int64_t n) {
    double c = 0;
    int64_t m = n;
    while (m % 8 == 0) { c += COST_PASS_8; m /= 8; }
    while (m % 4 == 0) { c += COST_PASS_4; m /= 4; }
    while (m % 2 == 0) { c += COST_PASS_2; m /= 2; }
    while (m % 3 == 0) { c += COST_PASS_3; m /= 3; }
    while (m % 5 == 0) { c += COST_PASS_5; m /= 5; }
    for (int64_t p = 7; m > 1 && p <= m; p += 2)
        while (m % p == 0) { c += COST_PASS_P * (double)p; m /= p; }
    return c * (double)n;
}

typedef struct geometry {
    int dims;
    int64_t keh, kew, full_h, full_w;
} geometry;

static geometry problem_geometry(const fc_conv2d_desc *d) {
    geometry g;
    g.dims = (d->h == 1 && d->kh == 1 && d->h_out == 1 && d->pad_top == 0) ? 1 : 2;
    g.keh = (d->kh - 1) * d->dil_h + 1;
    g.kew = (d->kw - 1) * d->dil_w + 1;
    g.full_h = (d->h_out - 1) * d->stride_h + 1;
    g.full_w = (d->w_out - 1) * d->stride_w + 1;
    return g;
}

static double spill(double bytes) {
    return bytes > COST_L2_BYTES ? COST_SPILL : 0.0;
}

/* Estimated time of the whole call (kernel spectra included: they are computed per call until
 * a plan object caches them), or a negative number for an invalid tiling. */
static double tiling_cost(const fc_conv2d_desc *d, const geometry *G, int vl, int dtb,
                          int64_t th, int64_t tw, int32_t *mode) {
    const int64_t cg = d->c_in / d->groups, kg = d->c_out / d->groups;
    const double nt = (double)FC_MAX(d->nthreads, 1), vcb = 2.0 * vl * dtb;
    if (tw < G->kew || tw % 2) return -1;
    if (G->dims == 1) {
        const int64_t vw = tw - G->kew + 1, ntx = fc_div_up(G->full_w, vw);
        const int64_t nlg = fc_div_up(d->n * ntx, vl), h = tw / 2, nb = h + 1;
        const double tr = cfft_cost(h) + COST_MOVE * (double)(2 * h + nb);
        const double ws = (double)(cg + kg) * (double)nb * vcb;
        const double per = (double)(cg + kg) * tr * (1 + spill(ws)) +
                           (double)(cg * kg) * (double)nb * COST_CMAC_1D;
        const double jobs = (double)(d->groups * nlg);
        const double apply = per * (double)fc_div_up((int64_t)jobs, (int64_t)nt);
        /* kernel spectra: lane groups of VL channel pairs, whole jobs per thread */
        const double kern = (double)fc_div_up(fc_div_up(d->groups * kg * cg, vl), (int64_t)nt) *
                            (tr + COST_MOVE * (double)(nb * vl));
        return apply + kern;
    }
    if (th < G->keh || th % 2 || th < 2) return -1;
    const int64_t vh = th - G->keh + 1, vw = tw - G->kew + 1;
    const int64_t nty = fc_div_up(G->full_h, vh), ntx = fc_div_up(G->full_w, vw);
    const int64_t hh = th / 2, nkhb = fc_div_up(hh + 1, vl), ncb = fc_div_up(tw, vl);
    const int64_t ncb_out = fc_div_up(FC_MIN(vw, G->full_w), vl);
    const double svc = (double)(tw * nkhb);
    const double col = cfft_cost(hh) + COST_MOVE * (double)(th + nkhb * vl);
    const double row = cfft_cost(tw);
    const double spec_bytes = svc * vcb;
    const double sp = spill(spec_bytes * (double)(cg + kg));
    const double fwd = ((double)ncb * col + (double)nkhb * row) * (1 + sp);
    const double inv = ((double)ncb_out * col + (double)nkhb * row) * (1 + sp);
    /* cg == 1 fuses the contraction into the row transforms: one product per bin */
    const double mac = cg == 1 ? (double)kg * svc * COST_MOVE
                               : (double)(cg * kg) * svc * COST_CMAC_2D *
                                     (1 + spill(spec_bytes * (double)(cg * kg)));
    const double serial = (double)cg * fwd + (double)kg * inv + mac;
    const double ntiles = (double)(d->n * d->groups * nty * ntx);
    /* mode 1, tile-parallel: whole tiles per thread, dynamic schedule, one call for all */
    const double par = (double)fc_div_up((int64_t)ntiles, (int64_t)nt) * serial;
    /* mode 0, work-shared stages: a stage with fewer blocks than threads leaves threads idle,
     * and every stage waits for its last chunk (costly on a loaded machine) */
    const int64_t nti = (int64_t)nt;
    const double eff_c = (double)(cg * ncb) / (double)(fc_div_up(cg * ncb, nti) * nti);
    const double eff_r = (double)(cg * nkhb) / (double)(fc_div_up(cg * nkhb, nti) * nti);
    double shared = ntiles * serial / nt * 2.0 / (eff_c + eff_r);
    if (nt > 1) shared += ntiles * 5 * COST_STAGE;
    const double kern = (double)(d->groups * kg * cg) *
                        ((double)fc_div_up(G->kew, vl) * col + (double)nkhb * (row + tw)) / nt;
    if (mode) *mode = (nt > 1 && shared < par) ? 0 : 1;
    return FC_MIN(par, shared) + kern;
}

/* Smooth sizes (2^a 3^b 5^c) in [lo, hi], ascending, into out (at most cap): generated, not
 * searched, so a call costs microseconds however large hi is. */
static int smooth_sizes(int64_t lo, int64_t hi, int64_t *out, int cap) {
    int n = 0;
    for (int64_t p5 = 1; p5 <= hi; p5 *= 5)
        for (int64_t p3 = p5; p3 <= hi; p3 *= 3)
            for (int64_t v = p3; v <= hi; v *= 2)
                if (v >= lo && n < cap) out[n++] = v;
    for (int i = 1; i < n; i++) { /* insertion sort: a few hundred entries */
        const int64_t v = out[i];
        int j = i - 1;
        while (j >= 0 && out[j] > v) { out[j + 1] = out[j]; j--; }
        out[j + 1] = v;
    }
    return n;
}

static int64_t next_smooth(int64_t n, int even) {
    int64_t v = FC_MAX(n, even ? 2 : 1);
    while (!is_smooth(v) || (even && v % 2)) v++;
    return v;
}

#define MAX_TILE 16384
#define MAX_CAND 400

static void choose(const fc_conv2d_desc *d, int dtb, int64_t *th_out, int64_t *tw_out) {
    const geometry G = problem_geometry(d);
    const int vl = fc_fft_lanes(fc_active_isa(), dtb);
    int64_t cw[MAX_CAND], ch[MAX_CAND];
    /* one tile covering everything is the largest size worth trying */
    const int64_t top_w = FC_MIN(next_smooth(G.full_w + G.kew - 1, 1) + 1, MAX_TILE);
    int nw = smooth_sizes(G.kew, FC_MAX(top_w, next_smooth(G.kew, 1) + 1), cw, MAX_CAND);
    int nh = 1;
    ch[0] = 1;
    if (G.dims == 2) {
        const int64_t top_h = FC_MIN(next_smooth(G.full_h + G.keh - 1, 1) + 1, MAX_TILE);
        nh = smooth_sizes(FC_MAX(G.keh, 2), FC_MAX(top_h, next_smooth(G.keh, 1) + 1), ch,
                          MAX_CAND);
    }
    double best = -1;
    int64_t bh = G.dims == 2 ? next_smooth(G.keh, 1) : 1, bw = next_smooth(G.kew, 1);
    for (int i = 0; i < nh; i++)
        for (int j = 0; j < nw; j++) {
            const double c = tiling_cost(d, &G, vl, dtb, ch[i], cw[j], NULL);
            if (c >= 0 && (best < 0 || c < best)) {
                best = c;
                bh = ch[i];
                bw = cw[j];
            }
        }
    *th_out = bh;
    *tw_out = bw;
}

/* ---- plan layout ---------------------------------------------------------------------------- */
static fc_status layout(fc_fft_conv_plan *p, const fc_conv2d_desc *d, int dtb, int64_t th,
                        int64_t tw, int mode, void *plan_mem) {
    if (!d || (dtb != 4 && dtb != 8)) return FC_ERR_INVALID_ARGUMENT;
    if (d->n < 1 || d->c_in < 1 || d->c_out < 1 || d->groups < 1 || d->c_in % d->groups ||
        d->c_out % d->groups || d->kh < 1 || d->kw < 1 || d->h_out < 1 || d->w_out < 1 ||
        d->stride_h < 1 || d->stride_w < 1 || d->dil_h < 1 || d->dil_w < 1 || d->nthreads < 1)
        return FC_ERR_INVALID_ARGUMENT;
    const geometry G = problem_geometry(d);
    if (th == 0 && tw == 0) choose(d, dtb, &th, &tw);
    if (G.dims == 1) th = 1;
    if (tw < G.kew || tw % 2 || tw > (int64_t)1 << 40) return FC_ERR_INVALID_ARGUMENT;
    if (G.dims == 2 && (th < G.keh || th % 2 || th > (int64_t)1 << 40))
        return FC_ERR_INVALID_ARGUMENT;
    memset(p, 0, sizeof *p);
    p->magic = FC_FFT_PLAN_MAGIC;
    p->isa = (int32_t)fc_active_isa();
    p->vl = fc_fft_lanes((fc_isa)p->isa, dtb);
    p->dtb = dtb;
    p->dims = G.dims;
    p->nthreads_hint = d->nthreads;
    p->n = d->n, p->c_in = d->c_in, p->h = d->h, p->w = d->w, p->c_out = d->c_out;
    p->kh = d->kh, p->kw = d->kw, p->h_out = d->h_out, p->w_out = d->w_out;
    p->stride_h = d->stride_h, p->stride_w = d->stride_w, p->dil_h = d->dil_h;
    p->dil_w = d->dil_w, p->pad_top = d->pad_top, p->pad_left = d->pad_left;
    p->groups = d->groups;
    p->cg = d->c_in / d->groups;
    p->kg = d->c_out / d->groups;
    p->th = th;
    p->tw = tw;
    p->keh = G.keh;
    p->kew = G.kew;
    p->full_h = G.full_h;
    p->full_w = G.full_w;
    p->vh = th - G.keh + 1;
    p->vw = tw - G.kew + 1;
    p->nty = G.dims == 2 ? fc_div_up(G.full_h, p->vh) : 1;
    p->ntx = fc_div_up(G.full_w, p->vw);
    if (mode < -1 || mode > 1) return FC_ERR_INVALID_ARGUMENT;
    if (G.dims == 2) {
        int32_t chosen = 1;
        tiling_cost(d, &G, p->vl, dtb, th, tw, &chosen);
        p->mode = mode >= 0 ? mode : chosen;
    }
    p->data_off = fc_round_up((int64_t)sizeof(fc_fft_conv_plan), FC_FFT_ALIGN);
    void *data = plan_mem ? (char *)plan_mem + p->data_off : NULL;
    int64_t used = 0;
    const int64_t vcb = 2 * (int64_t)p->vl * dtb;
    if (G.dims == 2) {
        fc_fft_real_init(&p->ax_h, th, data, &used, dtb);
        fc_fft_sub_init(&p->ax_w, tw, 1, data, &used, dtb);
        p->nkhb = fc_div_up(th / 2 + 1, p->vl);
        p->ncb = fc_div_up(tw, p->vl);
        p->spec_vc = tw * p->nkhb;
        p->spectra_bytes = p->groups * p->kg * p->cg * p->spec_vc * vcb;
    } else {
        fc_fft_real_init(&p->ax_1d, tw, data, &used, dtb);
        /* Few kernel pairs: each pair's taps split into D phases, one lane each (see
         * spectra_1d), D a power of 2 with D x pairs <= VL and tw / D even. */
        const int64_t npairs = p->groups * p->kg * p->cg;
        p->kdec = 1;
        while (2 * p->kdec * npairs <= p->vl && tw % (4 * p->kdec) == 0) p->kdec *= 2;
        if (p->kdec > 1) fc_fft_real_init(&p->ax_dec, tw / p->kdec, data, &used, dtb);
        p->spec_vc = tw / 2 + 1;
        p->spectra_bytes = p->groups * p->kg * p->cg * (tw / 2 + 1) * 2 * dtb;
    }
    p->plan_bytes = p->data_off + fc_round_up(used * dtb, FC_FFT_ALIGN);
    return FC_OK;
}

/* Thread scratch in bytes (mirrors conv_fft_impl.h's thr_vc, which needs VL at compile time;
 * tests/test_fft.py guards the workspace ends). The spectra step uses apply's per-thread regions
 * (thread_scratch; conv2d_fft runs both on one workspace), so both steps ask for the same size. */
static int64_t thr_bytes(const fc_fft_conv_plan *p) {
    const int64_t vl = p->vl;
    const int64_t most = p->dims == 2 ? FC_MAX(FC_MAX(p->th / 2 + 1, p->nkhb * vl), p->tw) + 2
                                      : p->tw / 2 + 2;
    const int64_t gen = FC_MAX(FC_MAX(p->ax_h.half.maxgen, p->ax_dec.half.maxgen),
                               FC_MAX(p->ax_w.maxgen, p->ax_1d.half.maxgen));
    int64_t vc = fc_round_up(4 * most + gen, 2);
    if (p->dims == 1) vc += (p->cg + p->kg) * (p->tw / 2 + 1);
    if (p->dims == 2 && p->mode == 1)
        vc += (p->cg + p->kg) * p->spec_vc + fc_div_up(p->th * p->ncb, 2); /* + tile buffer */
    return vc * 2 * vl * p->dtb;
}

size_t fc_fft_conv_ws_bytes(const fc_fft_conv_plan *p, int nthreads) {
    int64_t b = (int64_t)FC_MAX(nthreads, 1) * thr_bytes(p);
    if (p->dims == 2 && p->mode == 0) b += (p->cg + p->kg) * p->spec_vc * 2 * p->vl * p->dtb;
    return (size_t)b;
}

size_t fc_fft_conv_spectra_ws_bytes(const fc_fft_conv_plan *p, int nthreads) {
    return fc_fft_conv_ws_bytes(p, nthreads);
}

/* ---- public entry points ---------------------------------------------------------------- */
fc_status fc_fft_conv_choose_tiles(const fc_conv2d_desc *d, int dtype_bytes, int64_t *tile_h,
                                   int64_t *tile_w) {
    fc_fft_conv_plan p;
    const fc_status st = layout(&p, d, dtype_bytes, 0, 0, -1, NULL);
    if (st != FC_OK) return st;
    *tile_h = p.th;
    *tile_w = p.tw;
    return FC_OK;
}

double fc_fft_conv_cost(const fc_conv2d_desc *d, int dtype_bytes, int64_t tile_h,
                        int64_t tile_w) {
    const geometry G = problem_geometry(d);
    return tiling_cost(d, &G, fc_fft_lanes(fc_active_isa(), dtype_bytes), dtype_bytes,
                       G.dims == 1 ? 1 : tile_h, tile_w, NULL);
}

fc_status fc_fft_conv_sizes(const fc_conv2d_desc *d, int dtype_bytes, int64_t tile_h,
                            int64_t tile_w, int mode, size_t *plan_bytes, size_t *spectra_bytes,
                            size_t *ws_bytes) {
    fc_fft_conv_plan p;
    const fc_status st = layout(&p, d, dtype_bytes, tile_h, tile_w, mode, NULL);
    if (st != FC_OK) return st;
    *plan_bytes = (size_t)p.plan_bytes;
    *spectra_bytes = (size_t)p.spectra_bytes;
    *ws_bytes = FC_MAX(fc_fft_conv_ws_bytes(&p, d->nthreads),
                       fc_fft_conv_spectra_ws_bytes(&p, d->nthreads));
    return FC_OK;
}

static fc_status plan_init(const fc_conv2d_desc *d, int dtb, int64_t tile_h, int64_t tile_w,
                           int mode, void *plan, size_t plan_bytes) {
    fc_fft_conv_plan tmp;
    if (!plan || (uintptr_t)plan % FC_FFT_ALIGN) return FC_ERR_INVALID_ARGUMENT;
    fc_status st = layout(&tmp, d, dtb, tile_h, tile_w, mode, NULL);
    if (st != FC_OK) return st;
    if ((size_t)tmp.plan_bytes > plan_bytes) return FC_ERR_WORKSPACE_TOO_SMALL;
    return layout((fc_fft_conv_plan *)plan, d, dtb, tile_h, tile_w, mode, plan);
}

/* The plan must be ours, of this dtype, for a problem of the same sizes as d, on an ISA this
 * CPU runs (the spectra layout depends on the ISA's lanes). */
static fc_status check_plan(const fc_fft_conv_plan *p, const fc_conv2d_desc *d, int dtb) {
    if (!p || !d || p->magic != FC_FFT_PLAN_MAGIC || p->dtb != dtb) return FC_ERR_INVALID_ARGUMENT;
    if (p->n != d->n || p->c_in != d->c_in || p->h != d->h || p->w != d->w ||
        p->c_out != d->c_out || p->kh != d->kh || p->kw != d->kw || p->h_out != d->h_out ||
        p->w_out != d->w_out || p->stride_h != d->stride_h || p->stride_w != d->stride_w ||
        p->dil_h != d->dil_h || p->dil_w != d->dil_w || p->pad_top != d->pad_top ||
        p->pad_left != d->pad_left || p->groups != d->groups || d->nthreads < 1)
        return FC_ERR_INVALID_ARGUMENT;
    if (p->isa > (int32_t)fc_cpu_isa()) return FC_ERR_ISA_UNAVAILABLE;
    return FC_OK;
}

#define CONV_ENTRY(DT, T)                                                                       \
    fc_status fc_##DT##_conv2d_fft_plan(const fc_conv2d_desc *d, int64_t tile_h,                \
                                        int64_t tile_w, int mode, void *plan,                   \
                                        size_t plan_bytes) {                                    \
        return plan_init(d, sizeof(T), tile_h, tile_w, mode, plan, plan_bytes);                 \
    }                                                                                           \
    fc_status fc_##DT##_conv2d_fft_kernel_spectra(const void *plan, const fc_conv2d_desc *d,    \
                                                  const T *w, void *spectra,                    \
                                                  size_t spectra_bytes, void *ws,               \
                                                  size_t ws_bytes) {                            \
        const fc_fft_conv_plan *p = (const fc_fft_conv_plan *)plan;                             \
        fc_status st = check_plan(p, d, sizeof(T));                                             \
        if (st != FC_OK) return st;                                                             \
        if (!w || !spectra || !ws || (uintptr_t)spectra % FC_FFT_ALIGN ||                       \
            (uintptr_t)ws % FC_FFT_ALIGN)                                                       \
            return FC_ERR_INVALID_ARGUMENT;                                                     \
        if (spectra_bytes < (size_t)p->spectra_bytes ||                                         \
            ws_bytes < fc_fft_conv_spectra_ws_bytes(p, d->nthreads))                            \
            return FC_ERR_WORKSPACE_TOO_SMALL;                                                  \
        switch ((fc_isa)p->isa) {                                                               \
        case FC_ISA_AVX512:                                                                     \
            return fc_##DT##_conv2d_fft_kernel_spectra__avx512(p, d, w, spectra, ws);           \
        case FC_ISA_AVX2: return fc_##DT##_conv2d_fft_kernel_spectra__avx2(p, d, w, spectra, ws); \
        default: return fc_##DT##_conv2d_fft_kernel_spectra__scalar(p, d, w, spectra, ws);      \
        }                                                                                       \
    }                                                                                           \
    fc_status fc_##DT##_conv2d_fft_apply(const void *plan, const fc_conv2d_desc *d,             \
                                         const void *spectra, const T *x, const T *bias, T *y,  \
                                         void *ws, size_t ws_bytes) {                           \
        const fc_fft_conv_plan *p = (const fc_fft_conv_plan *)plan;                             \
        fc_status st = check_plan(p, d, sizeof(T));                                             \
        if (st != FC_OK) return st;                                                             \
        if (!x || !y || !spectra || !ws || (uintptr_t)ws % FC_FFT_ALIGN ||                      \
            (uintptr_t)spectra % FC_FFT_ALIGN)                                                  \
            return FC_ERR_INVALID_ARGUMENT;                                                     \
        if (ws_bytes < fc_fft_conv_ws_bytes(p, d->nthreads)) return FC_ERR_WORKSPACE_TOO_SMALL; \
        switch ((fc_isa)p->isa) {                                                               \
        case FC_ISA_AVX512:                                                                     \
            return fc_##DT##_conv2d_fft_apply__avx512(p, d, spectra, x, bias, y, ws);           \
        case FC_ISA_AVX2: return fc_##DT##_conv2d_fft_apply__avx2(p, d, spectra, x, bias, y, ws); \
        default: return fc_##DT##_conv2d_fft_apply__scalar(p, d, spectra, x, bias, y, ws);      \
        }                                                                                       \
    }                                                                                           \
    fc_status fc_##DT##_conv2d_fft(const void *plan, const fc_conv2d_desc *d, const T *w,       \
                                   const T *x, const T *bias, T *y, void *spectra,              \
                                   size_t spectra_bytes, void *ws, size_t ws_bytes) {           \
        const fc_fft_conv_plan *p = (const fc_fft_conv_plan *)plan;                             \
        fc_status st = check_plan(p, d, sizeof(T));                                             \
        if (st != FC_OK) return st;                                                             \
        if (!w || !x || !y || !spectra || !ws || (uintptr_t)ws % FC_FFT_ALIGN ||                \
            (uintptr_t)spectra % FC_FFT_ALIGN)                                                  \
            return FC_ERR_INVALID_ARGUMENT;                                                     \
        if (spectra_bytes < (size_t)p->spectra_bytes ||                                         \
            ws_bytes < fc_fft_conv_ws_bytes(p, d->nthreads) ||                                  \
            ws_bytes < fc_fft_conv_spectra_ws_bytes(p, d->nthreads))                            \
            return FC_ERR_WORKSPACE_TOO_SMALL;                                                  \
        switch ((fc_isa)p->isa) {                                                               \
        case FC_ISA_AVX512: return fc_##DT##_conv2d_fft__avx512(p, d, w, spectra, x, bias, y, ws); \
        case FC_ISA_AVX2: return fc_##DT##_conv2d_fft__avx2(p, d, w, spectra, x, bias, y, ws);  \
        default: return fc_##DT##_conv2d_fft__scalar(p, d, w, spectra, x, bias, y, ws);         \
        }                                                                                       \
    }

CONV_ENTRY(f32, float)
CONV_ENTRY(f64, double)
