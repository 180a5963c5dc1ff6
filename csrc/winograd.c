/* Winograd F(m x m, 3x3) convolution: tile-size and block-size rules, buffer sizes, the
 * kernel-transform header and dispatch to the variant of the ISA and tile size. The stages
 * themselves are in winograd_impl.h; layouts in winograd.h. */
#include <string.h>

#include "winograd.h"

/* Block rule: V + M of a block (XI tile positions x (cpad + kpad) per tile) within half the L2
 * of the threads sharing it (FC_WINOGRAD_BLOCK_BYTES): the other half holds the U panels and
 * input rows that the stages stream through. When U is beyond FC_WINOGRAD_U_FAR_BYTES, at
 * least FC_WINOGRAD_MIN_BLOCK tiles: every block streams all of U (36 x C x K, 37.7 MB for
 * 512 x 512 channels) from memory, so a block must reuse each U element over enough tiles to
 * stay compute-bound.
 * AMD EPYC (Zen 4) VM, 2 cores, 1 MiB L2 per core, 32 MiB L3, 2026-11-29, `PYTHONPATH=.
 * python bench/bench_winograd.py --sweep-block 0,12,24,48,96` (ResNet-50 and VGG-16 3x3 layers,
 * batch 1 and 8, 1 and 2 threads; effective GFLOP/s of apply): 128 channels (U 2.4 MB) ran
 * 20-35% faster in blocks of 12-24 tiles than of 96 (VGG conv2_2 1 thread 185 vs 146, 2
 * threads batch 8 428-454 vs 328); 256 channels (U 9.4 MB) 15-40% slower in blocks of 12-24
 * than of 96 (conv3_2: 152-154 vs 166-195); 512 channels lost 10% at 48 tiles and 40% at 12
 * against 96-384; 64 channels: 12 to 96 within the noise. (Before: the whole L2 for V + M and
 * the 96-tile floor for any U beyond L2, which put 128-channel layers in 96-tile blocks.) */
/* The L2 is this machine's (fc_set_cache_sizes); "4 MiB" above is 4 of those L2s. */
#define FC_WINOGRAD_L2_BYTES ((size_t)fc_cache_l2())
#define FC_WINOGRAD_BLOCK_BYTES (FC_WINOGRAD_L2_BYTES / 2)
#define FC_WINOGRAD_MIN_BLOCK 96
#define FC_WINOGRAD_U_FAR_BYTES (4 * FC_WINOGRAD_L2_BYTES)

#define FC_WINOGRAD_MAGIC 0x57696e6fu /* "Wino" */
#define FC_WINOGRAD_HEADER 64         /* bytes before U in the kernel-transform buffer */

/* What a kernel transform was made for; apply refuses a buffer made for something else. */
typedef struct wg_header {
    uint32_t magic;
    int32_t isa, dtype_bytes, tile; /* tile: output tile side m */
    int64_t groups, c_in, c_out, cpad, kpad;
} wg_header;

typedef struct wg_geometry {
    int64_t m, xi; /* output tile side, tile positions (m + 2)^2 */
    int64_t vl, cpad, kpad, tiles, nb;
    int per_thread; /* the threads take whole blocks, each with its own V + M buffer */
    int64_t nbuf;   /* V + M buffers in the workspace: threads when per_thread, else 1 */
    /* A call without a kept kernel transform fuses it into stage 2 (winograd_impl.h): U
     * beyond L2 used by one shared block per group, so each U element is used once. U then
     * never goes through memory: written there and read back it was most of such a call
     * (512 x 512 channels: 36 MB each way, 3-5 ms at batch 1). fused_panel: elements of each
     * thread's panel buffer, XI x cpad x NR, in the workspace after V + M. */
    int fused;
    int64_t fused_panel;
} wg_geometry;

static int64_t round_up(int64_t a, int64_t b) { return fc_div_up(a, b) * b; }

static int64_t lanes(fc_isa isa, int dtype_bytes) {
    switch (isa) {
    case FC_ISA_AVX512: return 64 / dtype_bytes;
    case FC_ISA_AVX2: return 32 / dtype_bytes;
    default: return 1;
    }
}

/* Not argument validation (the API did that): sizes no kernel could run with, and problems
 * that are not 3x3 stride-1 undilated (FC_ERR_UNSUPPORTED). */
static fc_status check_desc(const fc_conv2d_desc *d, int dtype_bytes) {
    if (!d || d->nthreads < 1 || (dtype_bytes != 4 && dtype_bytes != 8))
        return FC_ERR_INVALID_ARGUMENT;
    if (d->n < 0 || d->c_in < 1 || d->h < 1 || d->w < 1 || d->c_out < 0 || d->h_out < 0 ||
        d->w_out < 0 || d->pad_top < 0 || d->pad_left < 0 || d->groups < 1 ||
        d->c_in % d->groups != 0 || d->c_out % d->groups != 0)
        return FC_ERR_INVALID_ARGUMENT;
    if (d->kh != 3 || d->kw != 3 || d->stride_h != 1 || d->stride_w != 1 || d->dil_h != 1 ||
        d->dil_w != 1)
        return FC_ERR_UNSUPPORTED;
    return FC_OK;
}

/* Tile-size rule. F(4x4, 3x3) does 36 products per 16 outputs, F(2x2, 3x3) 16 per 4: F(4x4)
 * wins wherever there are many tiles. On small images at small batch the tiles are few (7 x 7:
 * 4 tiles of 4 x 4, 16 of 2 x 2 per image) and two costs that do not shrink with them decide:
 * the microkernel's rounding of the tiles up to its 6 rows, and one pass over U per call
 * (made by the kernel transform, or streamed from memory by a plan's apply: 36 vs 16 x C x K).
 * Both in units of one tile row of products per (input, output channel) pair, the rule picks
 * the smaller of XI(m) x (round_up(tiles(m), 6) + FC_WINOGRAD_U_PASS_ROWS): F(2x2) for 7 x 7
 * images up to batch 2 (and smaller images), F(4x4) from 14 x 14 at batch 1 on.
 * AMD EPYC (Zen 4) VM, 1 thread, 2026-11-29, `python bench/bench_winograd.py --tiles 2,4`,
 * effective GFLOP/s of the whole call F(2x2) / F(4x4) (two runs): ResNet-50 res5 3x3 (7 x 7,
 * 512 channels) batch 1 65 / 46, 62 / 40; batch 2 64 / 50; batch 4 97 / 104; batch 8 82 / 121.
 * 14 x 14 at batch 1 is the edge: VGG-16 conv5 (512 channels) 126 / 115, 115 / 102, but res4
 * (256) 112 / 119, 105 / 125 (its F(2x2) U, 4 MiB, is made and then streamed by 4 blocks; at
 * 512 channels one fused block), so the U pass counts 10 rows, which puts 14 x 14 with F(4x4).
 * Every 28 x 28 and larger layer: F(4x4) by 1.1-1.8x. */
#define FC_WINOGRAD_U_PASS_ROWS 10

static int64_t rule_cost(const fc_conv2d_desc *d, int64_t m) {
    const int64_t tiles = d->n * fc_div_up(d->h_out, m) * fc_div_up(d->w_out, m);
    return (m + 2) * (m + 2) * (round_up(tiles, FC_WINOGRAD_MR) + FC_WINOGRAD_U_PASS_ROWS);
}

/* The output tile side m: `requested` (2 or 4), or for 0 the rule above; 0 for anything else. */
static int64_t output_tile(const fc_conv2d_desc *d, int64_t requested) {
    if (requested == 2 || requested == 4) return requested;
    if (requested != 0) return 0;
    return rule_cost(d, 2) < rule_cost(d, 4) ? 2 : 4;
}

fc_status fc_winograd_output_tile(const fc_conv2d_desc *d, int dtype_bytes, int64_t tile,
                                  int64_t *m) {
    const fc_status st = check_desc(d, dtype_bytes);
    if (st != FC_OK) return st;
    const int64_t r = output_tile(d, tile);
    if (r == 0 || !m) return FC_ERR_INVALID_ARGUMENT;
    *m = r;
    return FC_OK;
}

static wg_geometry geometry(const fc_conv2d_desc *d, fc_isa isa, int dtype_bytes, int64_t m,
                            int64_t block_tiles) {
    wg_geometry g;
    g.m = m;
    g.xi = (m + 2) * (m + 2);
    g.vl = lanes(isa, dtype_bytes);
    g.cpad = round_up(d->c_in / d->groups, g.vl);
    g.kpad = round_up(FC_MAX(d->c_out / d->groups, 1), 2 * g.vl);
    g.tiles = d->n * fc_div_up(d->h_out, m) * fc_div_up(d->w_out, m);
    const int64_t per_tile = g.xi * (g.cpad + g.kpad) * dtype_bytes;
    const int64_t u_bytes = g.xi * g.cpad * g.kpad * dtype_bytes;
    const int64_t min_nb = u_bytes > (int64_t)FC_WINOGRAD_U_FAR_BYTES ? FC_WINOGRAD_MIN_BLOCK : 1;
    /* Threads take whole blocks of the one-thread size when there are blocks enough for all:
     * then V and M never leave the core that wrote them. Sharing a block (each stage split
     * between the threads) moves half of V and M from one core's L2 to the other's at every
     * stage: 2 threads ran 112 x 112 x 64 -> 128 no faster than 1. Few tiles (batch 1, small
     * images) are still shared, in blocks of the threads' L2 together. */
    const int64_t nt = FC_MAX(d->nthreads, 1);
    const int64_t nb1 = block_tiles > 0
                            ? block_tiles
                            : FC_MAX((int64_t)(FC_WINOGRAD_BLOCK_BYTES / (size_t)per_tile), min_nb);
    g.per_thread = nt > 1 && g.tiles >= nt * nb1;
    const int64_t fit = (int64_t)(FC_WINOGRAD_BLOCK_BYTES * (size_t)nt / (size_t)per_tile);
    int64_t nb = g.per_thread || block_tiles > 0 ? nb1 : FC_MAX(fit, min_nb);
    nb = FC_MIN(nb, FC_MAX(g.tiles, 1));
    g.nb = round_up(FC_MAX(nb, 1), FC_WINOGRAD_MR);
    g.nbuf = g.per_thread ? nt : 1;
    g.fused = !g.per_thread && block_tiles <= 0 && g.tiles <= g.nb &&
              u_bytes > (int64_t)FC_WINOGRAD_L2_BYTES;
    g.fused_panel =
        g.fused ? round_up((g.xi * (g.cpad * 2 * g.vl + FC_WINOGRAD_XI_PAD)) * dtype_bytes, 64) /
                      dtype_bytes
                : 0;
    return g;
}

/* Elements of one V + M buffer, a whole number of 64-byte lines. */
static int64_t buf_elems(const wg_geometry *g, int dtype_bytes) {
    const int64_t elems = g->xi * (g->nb * (g->cpad + g->kpad) + 2 * FC_WINOGRAD_XI_PAD);
    return round_up(elems * dtype_bytes, 64) / dtype_bytes;
}

static size_t kernel_bytes_of(const fc_conv2d_desc *d, const wg_geometry *g, int dtype_bytes) {
    return FC_WINOGRAD_HEADER +
           (size_t)(d->groups * g->xi * (g->kpad * g->cpad + FC_WINOGRAD_XI_PAD)) * dtype_bytes;
}

static size_t ws_bytes_of(const fc_conv2d_desc *d, const wg_geometry *g, int dtype_bytes) {
    const int64_t panels = g->fused_panel * FC_MAX(d->nthreads, 1);
    return 64 + (size_t)(g->nbuf * buf_elems(g, dtype_bytes) + panels) * (size_t)dtype_bytes;
}

fc_status fc_winograd_conv_sizes(const fc_conv2d_desc *d, int dtype_bytes, int64_t tile,
                                 int64_t block_tiles, size_t *kernel_bytes, size_t *ws_bytes) {
    int64_t m;
    const fc_status st = fc_winograd_output_tile(d, dtype_bytes, tile, &m);
    if (st != FC_OK) return st;
    const wg_geometry g = geometry(d, fc_active_isa(), dtype_bytes, m, block_tiles);
    if (kernel_bytes) *kernel_bytes = kernel_bytes_of(d, &g, dtype_bytes);
    if (ws_bytes) *ws_bytes = ws_bytes_of(d, &g, dtype_bytes);
    return FC_OK;
}

static void *align64(void *p) { return (void *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }

/* return ARGS applied to variant NAME (kernel_transform, apply) of element type TN for
 * ISA_VALUE and tile side M (only the portable ISA off x86-64) */
#define FC_WG_FN(TN, NAME, M, ISA) fc_##TN##_winograd_##NAME##_f##M##__##ISA
#define FC_WG_BY_TILE(TN, NAME, M, ISA, ARGS)                                                   \
    ((M) == 2 ? FC_WG_FN(TN, NAME, 2, ISA) ARGS : FC_WG_FN(TN, NAME, 4, ISA) ARGS)
#if FC_X86_64
#define FC_WG_DISPATCH(TN, NAME, ISA_VALUE, M, ARGS)                                            \
    switch (ISA_VALUE) {                                                                        \
    case FC_ISA_AVX512: return FC_WG_BY_TILE(TN, NAME, M, avx512, ARGS);                        \
    case FC_ISA_AVX2: return FC_WG_BY_TILE(TN, NAME, M, avx2, ARGS);                            \
    default: return FC_WG_BY_TILE(TN, NAME, M, scalar, ARGS);                                   \
    }
#else
#define FC_WG_DISPATCH(TN, NAME, ISA_VALUE, M, ARGS)                                            \
    return FC_WG_BY_TILE(TN, NAME, M, scalar, ARGS);
#endif

/* One definition per dtype of the three entry points (fastconv.h documents them). */
#define FC_WG_ENTRY_POINTS(T, TN)                                                              \
    /* m: the output tile side, already resolved (output_tile) */                              \
    static fc_status TN##_kernel_transform(const fc_conv2d_desc *d, int64_t m, const T *w,     \
                                           void *kernel, size_t kernel_bytes) {                \
        const fc_isa isa = fc_active_isa();                                                    \
        const wg_geometry g = geometry(d, isa, sizeof(T), m, 0);                               \
        if (!w || !kernel || ((uintptr_t)kernel & 63) != 0 ||                                  \
            kernel_bytes < kernel_bytes_of(d, &g, sizeof(T)))                                  \
            return FC_ERR_INVALID_ARGUMENT;                                                    \
        wg_header h = {FC_WINOGRAD_MAGIC, (int32_t)isa, (int32_t)sizeof(T), (int32_t)m,        \
                       d->groups, d->c_in, d->c_out, g.cpad, g.kpad};                          \
        memcpy(kernel, &h, sizeof h);                                                          \
        T *u = (T *)((char *)kernel + FC_WINOGRAD_HEADER);                                     \
        FC_WG_DISPATCH(TN, kernel_transform, isa, m, (d, w, u, g.cpad, g.kpad))                \
    }                                                                                          \
                                                                                               \
    fc_status fc_##TN##_conv2d_winograd_kernel_transform(const fc_conv2d_desc *d, const T *w,  \
                                                         int64_t tile, void *kernel,           \
                                                         size_t kernel_bytes) {                \
        int64_t m;                                                                             \
        const fc_status st = fc_winograd_output_tile(d, sizeof(T), tile, &m);                  \
        if (st != FC_OK) return st;                                                            \
        double t = FC_PROFILE_START(d);                                                        \
        const fc_status r = TN##_kernel_transform(d, m, w, kernel, kernel_bytes);              \
        FC_PROFILE_ADD(d, kernel_transform, t);                                                \
        return r;                                                                              \
    }                                                                                          \
                                                                                               \
    static fc_status TN##_apply(const fc_conv2d_desc *d, const void *kernel, const T *x,       \
                                const T *bias, T *y, int64_t block_tiles, void *ws,            \
                                size_t ws_bytes) {                                             \
        if (!kernel || !x || !y || !ws) return FC_ERR_INVALID_ARGUMENT;                        \
        wg_header h;                                                                           \
        memcpy(&h, kernel, sizeof h);                                                          \
        if (h.magic != FC_WINOGRAD_MAGIC || h.dtype_bytes != (int32_t)sizeof(T) ||             \
            (h.tile != 2 && h.tile != 4) || h.groups != d->groups || h.c_in != d->c_in ||      \
            h.c_out != d->c_out)                                                               \
            return FC_ERR_INVALID_ARGUMENT;                                                    \
        if (h.isa > (int32_t)fc_cpu_isa()) return FC_ERR_ISA_UNAVAILABLE;                      \
        const wg_geometry g = geometry(d, (fc_isa)h.isa, sizeof(T), h.tile, block_tiles);      \
        if (g.cpad != h.cpad || g.kpad != h.kpad) return FC_ERR_INVALID_ARGUMENT;              \
        if (ws_bytes < ws_bytes_of(d, &g, sizeof(T))) return FC_ERR_WORKSPACE_TOO_SMALL;       \
        if (g.tiles == 0 || d->c_out == 0) return FC_OK;                                       \
        const T *u = (const T *)((const char *)kernel + FC_WINOGRAD_HEADER);                   \
        T *wsa = (T *)align64(ws);                                                             \
        const int64_t buf = buf_elems(&g, sizeof(T));                                          \
        FC_WG_DISPATCH(TN, apply, h.isa, g.m,                                                  \
                       (d, u, NULL, x, bias, y, wsa, buf, 0, g.per_thread, g.nb, g.cpad,       \
                        g.kpad))                                                               \
    }                                                                                          \
                                                                                               \
    /* the kernel transform fused into stage 2 (wg_geometry.fused): no U buffer */             \
    static fc_status TN##_fused(const fc_conv2d_desc *d, fc_isa isa, const wg_geometry *g,     \
                                const T *w, const T *x, const T *bias, T *y, void *ws,         \
                                size_t ws_bytes) {                                             \
        if (!w || !x || !y || !ws) return FC_ERR_INVALID_ARGUMENT;                             \
        if (ws_bytes < ws_bytes_of(d, g, sizeof(T))) return FC_ERR_WORKSPACE_TOO_SMALL;        \
        if (g->tiles == 0 || d->c_out == 0) return FC_OK;                                      \
        T *wsa = (T *)align64(ws);                                                             \
        const int64_t buf = buf_elems(g, sizeof(T));                                           \
        FC_WG_DISPATCH(TN, apply, isa, g->m,                                                   \
                       (d, NULL, w, x, bias, y, wsa, buf, g->fused_panel, 0, g->nb, g->cpad,   \
                        g->kpad))                                                              \
    }                                                                                          \
                                                                                               \
    fc_status fc_##TN##_conv2d_winograd_apply(const fc_conv2d_desc *d, const void *kernel,     \
                                              const T *x, const T *bias, T *y,                 \
                                              int64_t block_tiles, void *ws,                   \
                                              size_t ws_bytes) {                               \
        const fc_status st = check_desc(d, sizeof(T));                                         \
        if (st != FC_OK) return st;                                                            \
        double t = FC_PROFILE_START(d);                                                        \
        const fc_status r = TN##_apply(d, kernel, x, bias, y, block_tiles, ws, ws_bytes);      \
        if (d->profile) {                                                                      \
            d->profile->total += fc_now() - t;                                                 \
            d->profile->calls += 1;                                                            \
        }                                                                                      \
        return r;                                                                              \
    }                                                                                          \
                                                                                               \
    fc_status fc_##TN##_conv2d_winograd(const fc_conv2d_desc *d, const T *w, const T *x,       \
                                        const T *bias, T *y, int64_t tile,                     \
                                        int64_t block_tiles, void *kernel,                     \
                                        size_t kernel_bytes, void *ws, size_t ws_bytes) {      \
        int64_t m;                                                                             \
        const fc_status st = fc_winograd_output_tile(d, sizeof(T), tile, &m);                  \
        if (st != FC_OK) return st;                                                            \
        double t = FC_PROFILE_START(d), t0 = t;                                                \
        fc_status r;                                                                           \
        const fc_isa isa = fc_active_isa();                                                    \
        const wg_geometry g = geometry(d, isa, sizeof(T), m, block_tiles);                     \
        if (g.fused) {                                                                         \
            r = TN##_fused(d, isa, &g, w, x, bias, y, ws, ws_bytes);                           \
        } else {                                                                               \
            r = TN##_kernel_transform(d, m, w, kernel, kernel_bytes);                          \
            FC_PROFILE_ADD(d, kernel_transform, t);                                            \
            if (r == FC_OK) r = TN##_apply(d, kernel, x, bias, y, block_tiles, ws, ws_bytes);  \
        }                                                                                      \
        if (d->profile) {                                                                      \
            d->profile->total += fc_now() - t0;                                                \
            d->profile->calls += 1;                                                            \
        }                                                                                      \
        return r;                                                                              \
    }

FC_WG_ENTRY_POINTS(float, f32)
FC_WG_ENTRY_POINTS(double, f64)
