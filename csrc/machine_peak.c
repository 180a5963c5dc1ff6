/* Machine microbenchmarks: FMA throughput per ISA and streaming memory bandwidth (fastconv.h).
 * fastconv.machine times them a few times and keeps the best; the roofline, `fastconv info` and
 * the benchmarks' "fraction of peak" use the result. */
#define _POSIX_C_SOURCE 199309L /* clock_gettime under -std=c99 */
#include <time.h>

#include "internal.h"

#if FC_X86_64
#include <immintrin.h>
#endif

/* Independent accumulator chains per thread. Keeping the FMA units busy needs at least
 * latency x FMA ports chains (4 x 2 on Zen 2-4 and Skylake-X); 12 leave margin and still fit
 * the 16 ymm registers of AVX2 with the two constants. */
#define FC_PEAK_CHAINS 12

/* One thread's FMA loop, written once: acc = acc * m + a on FC_PEAK_CHAINS vectors of LANES
 * floats. m just below 1 and a small keep the values finite for any iteration count. The
 * lanes' sum is returned so the compiler cannot drop the loop (no -ffast-math: it may not
 * reassociate the chains either). */
#define FC_DEFINE_FMA_LOOP(NAME, V, SET1, FMADD, STOREU, LANES)                               \
    static float NAME(int64_t iterations) {                                                   \
        V acc[FC_PEAK_CHAINS];                                                                 \
        const V m = SET1(0.9999999f), a = SET1(1e-7f);                                         \
        for (int j = 0; j < FC_PEAK_CHAINS; j++) acc[j] = SET1(1.0f + (float)j);               \
        for (int64_t i = 0; i < iterations; i++)                                               \
            for (int j = 0; j < FC_PEAK_CHAINS; j++) acc[j] = FMADD(acc[j], m, a);             \
        float lanes[LANES], sum = 0;                                                           \
        for (int j = 0; j < FC_PEAK_CHAINS; j++) {                                             \
            STOREU(lanes, acc[j]);                                                             \
            for (int l = 0; l < (LANES); l++) sum += lanes[l];                                 \
        }                                                                                      \
        return sum;                                                                            \
    }

#define FC_SCALAR_SET1(x) (x)
#define FC_SCALAR_FMADD(x, m, a) ((x) * (m) + (a))
#define FC_SCALAR_STOREU(p, v) (*(p) = (v))
FC_DEFINE_FMA_LOOP(fma_loop_scalar, float, FC_SCALAR_SET1, FC_SCALAR_FMADD, FC_SCALAR_STOREU, 1)

#if FC_X86_64
FC_BEGIN_TARGET(FC_TARGET_AVX2)
FC_DEFINE_FMA_LOOP(fma_loop_avx2, __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_storeu_ps, 8)
FC_END_TARGET

FC_BEGIN_TARGET(FC_TARGET_AVX512)
FC_DEFINE_FMA_LOOP(fma_loop_avx512, __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_storeu_ps,
                   16)
FC_END_TARGET
#endif

static float fma_loop(fc_isa isa, int64_t iterations) {
#if FC_X86_64
    if (isa == FC_ISA_AVX512) return fma_loop_avx512(iterations);
    if (isa == FC_ISA_AVX2) return fma_loop_avx2(iterations);
#endif
    return fma_loop_scalar(iterations);
}

/* CPU seconds of the calling thread: the loops are timed with it, so that time slices the OS
 * gives to other processes (a shared machine) do not count against the hardware's rate. Wall
 * clock where there is no per-thread CPU clock. */
static double thread_seconds(void) {
#if defined(CLOCK_THREAD_CPUTIME_ID)
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
        return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
#endif
    return fc_now();
}

/* Each thread's loop is timed with its own CPU clock and the rates add up, so the figures do
 * not depend on the threads overlapping exactly (one that starts late still counts its own
 * time); the loops are long (tens of milliseconds), so they do overlap on an idle machine. */
typedef struct {
    fc_isa isa;
    int64_t iterations;
    float sums[FC_PARALLEL_MAX_THREADS];
    double cpu[FC_PARALLEL_MAX_THREADS];
} fma_job;

static void fma_thread(void *arg, int64_t begin, int64_t end, int thread) {
    fma_job *job = (fma_job *)arg;
    (void)thread;
    for (int64_t t = begin; t < end; t++) {
        const double t0 = thread_seconds();
        job->sums[t] = fma_loop(job->isa, job->iterations);
        job->cpu[t] = thread_seconds() - t0;
    }
}

/* The result of the loops goes here, so that it is observable. */
static volatile float fc_peak_sink;

fc_status fc_f32_fma_peak(fc_isa isa, int64_t iterations, int nthreads, double *flops,
                          double *seconds) {
    if (!flops || !seconds || iterations < 1 || nthreads < 1 || (int)isa < 0 ||
        isa > FC_ISA_AVX512)
        return FC_ERR_INVALID_ARGUMENT;
    if (isa > fc_cpu_isa()) return FC_ERR_ISA_UNAVAILABLE;
    const int lanes = isa == FC_ISA_AVX512 ? 16 : isa == FC_ISA_AVX2 ? 8 : 1;
    const int team = nthreads < FC_PARALLEL_MAX_THREADS ? nthreads : FC_PARALLEL_MAX_THREADS;
    fma_job job = {isa, iterations, {0}, {0}};
    fc_parallel_for(team, team, 1, fma_thread, &job);
    float total = 0;
    double cpu = 0;
    for (int t = 0; t < team; t++) total += job.sums[t], cpu += job.cpu[t];
    fc_peak_sink = total;
    /* equal work per thread: total flops over the mean thread time = the sum of their rates */
    *seconds = cpu / team;
    *flops = 2.0 * lanes * FC_PEAK_CHAINS * (double)iterations * team;
    return FC_OK;
}

typedef struct {
    float *a;
    const float *b, *c;
    int64_t n, repeats;
    int team;
    double cpu[FC_PARALLEL_MAX_THREADS];
} triad_job;

/* Thread part t: its static share of the arrays, every repeat (as a static OpenMP loop). */
static void triad_thread(void *arg, int64_t begin, int64_t end, int thread) {
    triad_job *job = (triad_job *)arg;
    const float s = 3.0f;
    (void)thread;
    for (int64_t t = begin; t < end; t++) {
        const int64_t lo = job->n * t / job->team, hi = job->n * (t + 1) / job->team;
        float *a = job->a;
        const float *b = job->b, *c = job->c;
        const double t0 = thread_seconds();
        for (int64_t r = 0; r < job->repeats; r++)
            for (int64_t i = lo; i < hi; i++) a[i] = b[i] + s * c[i];
        job->cpu[t] = thread_seconds() - t0;
    }
}

fc_status fc_f32_stream_triad(float *a, const float *b, const float *c, int64_t n,
                              int64_t repeats, int nthreads, double *bytes, double *seconds) {
    if (!a || !b || !c || !bytes || !seconds || n < 1 || repeats < 1 || nthreads < 1)
        return FC_ERR_INVALID_ARGUMENT;
    const int team = nthreads < FC_PARALLEL_MAX_THREADS ? nthreads : FC_PARALLEL_MAX_THREADS;
    triad_job job = {a, b, c, n, repeats, team, {0}};
    fc_parallel_for(team, team, 1, triad_thread, &job);
    double cpu = 0;
    for (int t = 0; t < team; t++) cpu += job.cpu[t];
    *seconds = cpu / team; /* equal static parts: as for the FMA loop */
    *bytes = 12.0 * (double)n * (double)repeats;
    return FC_OK;
}
