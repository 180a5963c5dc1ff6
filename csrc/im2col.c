/* im2col: convolution as lowering + GEMM (gemm.c), and the 1x1 path that lowers nothing.
 * The code is written once (im2col_impl.h) and instantiated per dtype here. The dtype-free
 * parts (how the weight becomes the A matrix, how output rows are blocked) are below. */
#include <string.h>

#include "gemm_internal.h"

/* ---- the K axis -------------------------------------------------------------------------
 * A row of the patch matrix is one (c, r, s) of the weight's (c_in/groups, kh, kw) axes. Their
 * order and direction are ours to choose, so we pick the ones in which the weight is already a
 * plain strided matrix A (c_out x K): contiguous OIHW gives (c, r, s); an HWIO weight (NHWC
 * layout) gives (r, s, c); a flipped kernel (negative strides) runs r and s backwards. Only a
 * weight whose three axes do not collapse into one stride (an arbitrary view) is copied. */
typedef struct {
    int axis[3];       /* which of c = 0, r = 1, s = 2, outermost first */
    int64_t size[3];   /* their sizes */
    int rev[3];        /* 1: the lowered index runs backwards along this axis */
    int64_t w_off;     /* element offset of A[0, 0] from w */
    int64_t csa;       /* stride of A along K */
    int collapsible;   /* 0: the weight must be copied (then axes are c, r, s, csa 1) */
} fc_kaxes;

static void kaxes_analyse(const fc_conv2d_desc *d, fc_kaxes *ka) {
    const int64_t size[3] = {d->c_in / d->groups, d->kh, d->kw};
    int64_t stride[3];
    int rev[3];
    ka->w_off = 0;
    for (int t = 0; t < 3; t++) {
        stride[t] = d->w_stride[t + 1];
        rev[t] = 0;
        if (size[t] == 1) stride[t] = 0; /* any stride: an axis of one element never moves */
        if (stride[t] < 0) {
            ka->w_off += (size[t] - 1) * stride[t];
            stride[t] = -stride[t];
            rev[t] = 1;
        }
    }
    int order[3] = {0, 1, 2}; /* stable sort by stride, largest first */
    for (int x = 1; x < 3; x++)
        for (int y = x; y > 0 && stride[order[y]] > stride[order[y - 1]]; y--) {
            int t = order[y];
            order[y] = order[y - 1];
            order[y - 1] = t;
        }
    int64_t expect = 0, csa = 1;
    int ok = 1;
    for (int x = 2; x >= 0; x--) { /* innermost first; size-1 axes (stride 0) sort last */
        const int t = order[x];
        if (size[t] == 1) continue;
        if (expect == 0) csa = stride[t];
        else if (stride[t] != expect) ok = 0;
        expect = stride[t] * size[t];
    }
    if (csa == 0) ok = 0;
    ka->collapsible = ok;
    for (int x = 0; x < 3; x++) {
        const int t = ok ? order[x] : x;
        ka->axis[x] = t;
        ka->size[x] = size[t];
        ka->rev[x] = ok ? rev[t] : 0;
    }
    ka->csa = ok ? csa : 1;
    if (!ok) ka->w_off = 0;
}

/* Lowered rows kk, kk + 1, ... -> (c, r, s): the mixed-radix index is split once (three
 * divisions) and then stepped with carries. Per lowered row the divisions cost ~100 cycles,
 * as much as lowering a whole 7 x 7 row (measured: 1.4 ns per element on 512@7). */
typedef struct {
    int64_t idx[3]; /* position along ka->axis[0..2] */
    int64_t crs[3]; /* the (c, r, s) it stands for */
} fc_kstep;

static inline void kstep_crs(const fc_kaxes *ka, fc_kstep *st) {
    for (int x = 0; x < 3; x++)
        st->crs[ka->axis[x]] = ka->rev[x] ? ka->size[x] - 1 - st->idx[x] : st->idx[x];
}

static inline void kstep_init(const fc_kaxes *ka, int64_t kk, fc_kstep *st) {
    st->idx[2] = kk % ka->size[2];
    st->idx[1] = kk / ka->size[2] % ka->size[1];
    st->idx[0] = kk / (ka->size[2] * ka->size[1]);
    kstep_crs(ka, st);
}

static inline void kstep_next(const fc_kaxes *ka, fc_kstep *st) {
    for (int x = 2; x >= 0; x--) {
        if (++st->idx[x] < ka->size[x]) break;
        st->idx[x] = 0;
    }
    kstep_crs(ka, st);
}

/* lower_panels: taps and NR lanes it keeps masks for on the stack (larger kernels or tiles
 * take the row-major lowering). */
#define FC_IM2COL_MAX_TAPS 64
#define FC_IM2COL_MAX_NR 64

static int lower_by_panels(const fc_conv2d_desc *d, int64_t NR) {
    return d->stride_h == 1 && d->stride_w == 1 && d->x_stride[3] == 1 &&
           d->x_stride[2] == d->w_out && d->kh * d->kw <= FC_IM2COL_MAX_TAPS &&
           NR <= FC_IM2COL_MAX_NR;
}

/* ---- the plan: what lives in the workspace -----------------------------------------------
 * [ GEMM packing | weight copy (only if not collapsible) | tap table (lowering by panels)
 *   | lowered block | scratch rows ]
 * A block is a run of output rows q = image * h_out + row. It may span images (then it is
 * whole images, so batches make one product) when y's rows of one image are one stride apart;
 * otherwise it stays inside one image and C is addressed row group by row group.
 * The lowered block is written straight in the GEMM's packed-B layout ("packed": one pass over
 * it instead of lowering + packing) unless the GEMM will want to transpose the product (an
 * output with unit channel stride, NHWC): then it is a plain K x columns matrix.
 * Block size: at most the budget, and about FC_IM2COL_BLOCK_BYTES of lowered data (half of
 * this machine's L2, so the GEMM reads the block the lowering just wrote from L2, not from L3),
 * but at least FC_IM2COL_BLOCK_COLS columns: every block streams A (the weight) once more,
 * which costs little against 2 x 256 flops per weight element. */
#define FC_IM2COL_BLOCK_BYTES (fc_cache_l2() / 2)
#define FC_IM2COL_BLOCK_COLS 256

typedef struct {
    int pointwise;        /* 1x1 stride-1 unpadded, x rows contiguous: no lowering */
    int y_rows;           /* y's (h_out, w_out) collapse into one stride */
    int packed;           /* lowered straight into the GEMM's packed layout */
    int by_panels;        /* ... panel by panel (lower_panels), with a tap table */
    int64_t K, kg, hw;
    size_t gemm_ws, wcopy_bytes, taps_bytes;
    size_t fixed_bytes;   /* all of the above + alignment: what the blocks do not use */
    size_t row_bytes;     /* lowering bytes per output row of a block */
    size_t slack;         /* plus this per block (rounding to NR, alignment) */
    int64_t max_rows;     /* most output rows one block can usefully hold */
    int64_t pref_rows;    /* the cache-friendly block (see above) */
    fc_kaxes ka;
} fc_im2col_plan;

static int64_t gcd64(int64_t a, int64_t b) {
    while (b) {
        const int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static void plan_fixed(const fc_conv2d_desc *d, size_t itemsize, fc_im2col_plan *pl) {
    kaxes_analyse(d, &pl->ka);
    fc_gemm_blocking bk;
    if (itemsize == 4) fc_f32_gemm_blocking(fc_active_isa(), &bk);
    else fc_f64_gemm_blocking(fc_active_isa(), &bk);
    const int64_t nt = FC_MAX(1, d->nthreads), wo = d->w_out;
    pl->K = (d->c_in / d->groups) * d->kh * d->kw;
    pl->kg = d->c_out / d->groups;
    pl->hw = d->h_out * wo;
    pl->y_rows = d->h_out == 1 || d->y_stride[2] == wo * d->y_stride[3];
    const int x_rows = d->h == 1 || d->x_stride[2] == d->w * d->x_stride[3];
    pl->pointwise = d->kh == 1 && d->kw == 1 && d->stride_h == 1 && d->stride_w == 1 &&
                    d->pad_top == 0 && d->pad_left == 0 && d->h_out == d->h &&
                    d->w_out == d->w && x_rows;
    const int64_t ys1 = d->y_stride[1], ys3 = d->y_stride[3];
    pl->packed = !pl->pointwise && !(ys1 * ys1 == 1 && ys3 * ys3 != 1);
    /* packed: the GEMM needs no B buffer (sized as for one column) */
    const int64_t gn = pl->packed ? 1 : d->n * pl->hw;
    const size_t gws = itemsize == 4 ? fc_f32_gemm_op_workspace_size(pl->kg, gn, pl->K, (int)nt)
                                     : fc_f64_gemm_op_workspace_size(pl->kg, gn, pl->K, (int)nt);
    pl->gemm_ws = fc_align_up(gws, FC_GEMM_ALIGN);
    pl->wcopy_bytes = pl->ka.collapsible
                          ? 0
                          : fc_align_up((size_t)(d->c_out * pl->K) * itemsize, FC_GEMM_ALIGN);
    pl->by_panels = pl->packed && lower_by_panels(d, bk.nr);
    const size_t tap_entry = sizeof(int64_t) + sizeof(int32_t); /* channel offset, tap */
    pl->taps_bytes = pl->by_panels ? fc_align_up((size_t)pl->K * tap_entry, FC_GEMM_ALIGN) : 0;
    pl->fixed_bytes = pl->gemm_ws + pl->wcopy_bytes + pl->taps_bytes + 2 * FC_GEMM_ALIGN;
    const int64_t rows_per_col = pl->packed ? pl->K + nt : pl->K; /* + scratch rows */
    pl->row_bytes = (size_t)(rows_per_col * wo) * itemsize;
    pl->slack = pl->packed ? (size_t)(rows_per_col * bk.nr) * itemsize + 2 * FC_GEMM_ALIGN
                           : FC_GEMM_ALIGN;
    pl->max_rows = pl->pointwise ? 0 : (pl->y_rows ? d->n * d->h_out : d->h_out);
    /* The cache-friendly block, in whole output rows; a multiple of NR columns if that is a
     * few rows (no part-empty panel at every block end), whole images past one image. */
    const int64_t cols = FC_MAX(FC_IM2COL_BLOCK_COLS,
                                (int64_t)(FC_IM2COL_BLOCK_BYTES / (pl->K * itemsize)));
    int64_t rows = fc_div_up(cols, wo);
    const int64_t unit = bk.nr / gcd64(wo, bk.nr);
    if (unit <= 8) rows = fc_div_up(rows, unit) * unit;
    if (rows > d->h_out) rows = fc_div_up(rows, d->h_out) * d->h_out;
    pl->pref_rows = FC_MAX(1, rows);
}

/* Output rows per block for `avail` bytes of lowering space (0: not even one row fits). */
static int64_t plan_rows(const fc_conv2d_desc *d, const fc_im2col_plan *pl, size_t avail) {
    if (avail <= pl->slack) return 0;
    int64_t rows = (int64_t)((avail - pl->slack) / pl->row_bytes);
    rows = FC_MIN(rows, FC_MIN(pl->max_rows, pl->pref_rows));
    if (rows > d->h_out) rows = rows / d->h_out * d->h_out; /* whole images */
    return rows;
}

static size_t im2col_workspace_size(const fc_conv2d_desc *d, size_t budget, size_t itemsize) {
    fc_im2col_plan pl;
    plan_fixed(d, itemsize, &pl);
    const size_t fixed = pl.fixed_bytes;
    if (pl.pointwise) return fixed;
    int64_t rows = budget > fixed ? plan_rows(d, &pl, budget - fixed) : 0;
    if (rows < 1) rows = 1; /* one output row at least, whatever the budget */
    return fixed + (size_t)rows * pl.row_bytes + pl.slack;
}

size_t fc_f32_conv2d_im2col_workspace_size(const fc_conv2d_desc *d, size_t budget_bytes) {
    return im2col_workspace_size(d, budget_bytes, sizeof(float));
}

size_t fc_f64_conv2d_im2col_workspace_size(const fc_conv2d_desc *d, size_t budget_bytes) {
    return im2col_workspace_size(d, budget_bytes, sizeof(double));
}

/* Lowering in parallel only when a block has this many elements (below, the fork costs more). */
#define FC_LOWER_PAR_MIN 32768

#define IM_T float
#define IM_MT int32_t /* a lane mask as wide as IM_T */
#define IM_P f32
#define IM_OP fc_f32_gemm_op
#include "im2col_impl.h"

#define IM_T double
#define IM_MT int64_t
#define IM_P f64
#define IM_OP fc_f64_gemm_op
#include "im2col_impl.h"
