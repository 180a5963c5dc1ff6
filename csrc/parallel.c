/* A caller-participating thread pool (see parallel.h for the contract).
 *
 * One job at a time. The owner (the thread in fc_parallel_for) first closes the last job's
 * claims (the new generation in `state` with no chunk to claim), writes the job's fields, then
 * publishes it by storing the new generation with unit 0 (generation << 32 | next unclaimed
 * unit; a unit is one item unless the loop has more than 2^30).
 * Every thread claims chunks by compare-and-swap on `state`; a claim succeeds only while the
 * state it read is still the current one, so the fields a successful claimer read belong to
 * the job it claimed from: a job's fields change only after all of its chunks are claimed and
 * finished (`done` reached the unit count) and its state was closed.
 * A worker that wakes after the job is over sees a finished or newer generation and claims
 * nothing: the owner never waits for a thread that has not taken a chunk.
 *
 * A worker out of chunks spins while the job runs and for FC_POOL_SPIN_NS after it ends,
 * which covers the gap between back-to-back calls (the Python side of one call is a few
 * microseconds), then sleeps on a futex: no CPU is spent between calls further apart. Waking
 * a sleeping worker can take milliseconds (a halted vCPU the host must schedule; 7 ms seen
 * after 100 ms idle), so one that spun out before the job ended would miss every later call.
 * The owner, once no chunk is left to claim, spins for the same time for the chunks other
 * threads still hold, then sleeps too: a worker that lost its core to another process is then
 * moved by the kernel's idle balancing to the core the owner left idle, instead of the owner
 * burning that core while it waits.
 */
#define _GNU_SOURCE /* syscall(), pthread_atfork with -std=c99 */
#include "parallel.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FC_PAUSE() _mm_pause()
#else
#define FC_PAUSE() ((void)0)
#endif

#define FC_POOL_MAX_WORKERS (FC_PARALLEL_MAX_THREADS - 1)
/* 100 us: 20-30 Python-level calls' worth of fixed cost, a tenth of a small layer's time; an
 * idle worker costs this much CPU after each call and nothing after that. */
#define FC_POOL_SPIN_NS 100000
/* claims count units of items; a loop of more items than this makes each unit several items */
#define FC_POOL_MAX_UNITS ((int64_t)1 << 30)

#define LOAD(p, mo) __atomic_load_n((p), (mo))
#define STORE(p, v, mo) __atomic_store_n((p), (v), (mo))
#define RLX __ATOMIC_RELAXED
#define ACQ __ATOMIC_ACQUIRE
#define REL __ATOMIC_RELEASE
#define SEQ __ATOMIC_SEQ_CST

typedef struct fc_pool {
    /* the job (owner writes, claimers read; see the file comment) */
    fc_range_fn fn;
    void *ctx;
    int64_t n, unit;       /* items, and items per unit */
    uint32_t units, grain; /* units in all; fewest units a claim takes */
    int32_t width; /* threads that may take part: indices 0 .. width - 1 */
    /* claims: generation << 32 | next unit; on its own cache line */
    __attribute__((aligned(64))) uint64_t state;
    /* futex words */
    __attribute__((aligned(64))) uint32_t generation; /* = state >> 32, for sleeping workers */
    int32_t sleepers;                                 /* workers asleep or about to sleep */
    __attribute__((aligned(64))) uint32_t done;      /* units of this job finished */
    int32_t owner_waiting;                            /* the owner sleeps on `done` */
    __attribute__((aligned(64))) int nworkers;       /* started so far (owner only) */
    int atfork_registered;
} fc_pool;

static fc_pool pool;
/* held by the thread whose job the pool runs; tried, never waited for (see parallel.h) */
static pthread_mutex_t pool_owner = PTHREAD_MUTEX_INITIALIZER;

/* ---- sleeping and waking -------------------------------------------------------------------- */
static void wait_while_equal(uint32_t *word, uint32_t value) {
#if defined(__linux__)
    /* returns at once when *word != value already; spurious returns are re-checked by callers */
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
#else
    (void)word;
    (void)value;
    const struct timespec ts = {0, 50000};
    nanosleep(&ts, NULL);
#endif
}

static void wake_all(uint32_t *word) {
#if defined(__linux__)
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
    (void)word;
#endif
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double fc_wall_seconds(void) { return 1e-9 * (double)now_ns(); }

/* Spinning threads yield their core every 64 pauses (about a microsecond): a worker the kernel
 * woke on the owner's core (it often does after an idle gap, and moves it only at a later load
 * balance) would otherwise take half of that core from the owner while it spins. On a core of
 * its own, sched_yield returns at once. Measured, res2 bottleneck block after 25 ms idle
 * gaps: 9.1 ms per call with plain pauses, 4.0 with yields (back to back 2.8 ms). */

/* Spin up to FC_POOL_SPIN_NS while *word == value; 1 if it changed meanwhile. */
static int spin_while_equal(const uint32_t *word, uint32_t value) {
    const int64_t deadline = now_ns() + FC_POOL_SPIN_NS;
    for (;;) {
        for (int i = 0; i < 64; i++) {
            if (LOAD(word, ACQ) != value) return 1;
            FC_PAUSE();
        }
        if (now_ns() > deadline) return 0;
        sched_yield(); /* see above */
    }
}

/* ---- claiming chunks ------------------------------------------------------------------------ */
/* Units a claim takes when `left` are unclaimed. The owner (thread 0) takes half of an equal
 * share of them, never fewer than the grain (guided self-scheduling, Polychronopoulos & Kuck
 * 1987): its early claims are big and few, its last ones a grain. Pool threads always take a
 * grain: one may have just woken on a cold core, or be about to lose its core, and a big chunk
 * in its hands would make everyone wait (res2 bottleneck block after 100 ms idle gaps: 6.4 ms
 * per call with guided claims for all, 4.6 with this, 4.5 on one thread). Threads finish
 * within a grain of each other. */
static uint32_t claim_size(uint32_t left, uint32_t grain, int width, int thread) {
    if (thread > 0) return grain < left ? grain : left;
    const uint32_t guided = left / (2u * (uint32_t)width);
    const uint32_t take = guided > grain ? guided : grain;
    return take < left ? take : left;
}

/* Takes and runs chunks of generation gen until none is left or the job is over. */
static void run_chunks(uint32_t gen, int thread) {
    uint64_t s = LOAD(&pool.state, ACQ);
    for (;;) {
        if ((uint32_t)(s >> 32) != gen) return;
        const uint32_t next = (uint32_t)s;
        /* acquire: a field of a newer job than s's implies the swap below sees that job's
         * closed state and fails (fc_parallel_for) */
        const uint32_t units = LOAD(&pool.units, ACQ);
        const int width = LOAD(&pool.width, ACQ);
        if (thread >= width || next >= units) return;
        const uint32_t take = claim_size(units - next, LOAD(&pool.grain, ACQ), width, thread);
        const fc_range_fn fn = LOAD(&pool.fn, ACQ);
        void *const ctx = LOAD(&pool.ctx, ACQ);
        const int64_t n = LOAD(&pool.n, ACQ), unit = LOAD(&pool.unit, ACQ);
        /* on failure s is reloaded: another thread claimed `next`, or the job changed */
        if (!__atomic_compare_exchange_n(&pool.state, &s, s + take, 0, SEQ, ACQ)) continue;
        const int64_t begin = (int64_t)next * unit, end = (int64_t)(next + take) * unit;
        fn(ctx, begin, end < n ? end : n, thread);
        const uint32_t finished = __atomic_add_fetch(&pool.done, take, SEQ);
        if (finished == units && LOAD(&pool.owner_waiting, SEQ)) wake_all(&pool.done);
        s = LOAD(&pool.state, ACQ);
    }
}

/* The generation before the job that started worker w: it takes part in that job even when
 * it first runs after the job was published. Written before pthread_create. */
static uint32_t start_generation[FC_POOL_MAX_WORKERS + 1];

/* A worker between jobs: spins while job `seen` is still running (the owner and others are
 * finishing their chunks; the next job follows within microseconds of its end when calls
 * come back to back) and for FC_POOL_SPIN_NS after, then sleeps until a new generation. */
static void wait_for_job(uint32_t seen) {
    int64_t deadline = now_ns() + FC_POOL_SPIN_NS;
    for (;;) {
        for (int i = 0; i < 64; i++) {
            if (LOAD(&pool.generation, ACQ) != seen) return;
            FC_PAUSE();
        }
        const int64_t now = now_ns();
        if (LOAD(&pool.done, ACQ) != LOAD(&pool.units, RLX)) deadline = now + FC_POOL_SPIN_NS;
        else if (now > deadline) break;
        sched_yield();
    }
    __atomic_add_fetch(&pool.sleepers, 1, SEQ);
    while (LOAD(&pool.generation, SEQ) == seen) wait_while_equal(&pool.generation, seen);
    __atomic_sub_fetch(&pool.sleepers, 1, SEQ);
}

static void *worker_main(void *arg) {
    const int thread = (int)(intptr_t)arg; /* worker w is thread w + 1; the owner is 0 */
    uint32_t seen = start_generation[thread];
    for (;;) {
        wait_for_job(seen);
        seen = LOAD(&pool.generation, ACQ);
        run_chunks(seen, thread);
    }
    return NULL;
}

/* In a forked child only the forking thread exists: start the workers afresh on first use. */
static void pool_after_fork_in_child(void) {
    pool.nworkers = 0;
    pool.sleepers = 0;
    pool.owner_waiting = 0;
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    pool_owner = fresh;
}

/* Starts workers until `want` exist (as many as could be started); the owner calls this
 * before it publishes a job, so a new worker's first generation is the one before it. */
static int ensure_workers(int want) {
    if (want > FC_POOL_MAX_WORKERS) want = FC_POOL_MAX_WORKERS;
    if (!pool.atfork_registered) {
        pthread_atfork(NULL, NULL, pool_after_fork_in_child);
        pool.atfork_registered = 1;
    }
    while (pool.nworkers < want) {
        pthread_t t;
        pthread_attr_t attr;
        start_generation[pool.nworkers + 1] = LOAD(&pool.generation, RLX);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        const int rc =
            pthread_create(&t, &attr, worker_main, (void *)(intptr_t)(pool.nworkers + 1));
        pthread_attr_destroy(&attr);
        if (rc != 0) break; /* run with the workers there are */
        pool.nworkers++;
    }
    return pool.nworkers;
}

static void run_serially(int64_t n, int64_t grain, fc_range_fn fn, void *ctx) {
    for (int64_t begin = 0; begin < n; begin += grain)
        fn(ctx, begin, begin + grain < n ? begin + grain : n, 0);
}

void fc_parallel_for(int nthreads, int64_t n, int64_t grain, fc_range_fn fn, void *ctx) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    const int64_t unit = (n + FC_POOL_MAX_UNITS - 1) / FC_POOL_MAX_UNITS;
    const int64_t units = (n + unit - 1) / unit, grain_units = (grain + unit - 1) / unit;
    const int64_t most = (units + grain_units - 1) / grain_units; /* chunks of a grain */
    int width = (int64_t)nthreads < most ? nthreads : (int)most;
    if (width <= 1 || pthread_mutex_trylock(&pool_owner) != 0) {
        run_serially(n, grain, fn, ctx);
        return;
    }
    const int workers = ensure_workers(width - 1);
    if (workers + 1 < width) width = workers + 1;

    /* Close the last job's claims before its fields change: a thread that found all of its
     * chunks claimed may be about to read the fields and retry its compare-and-swap on the old
     * state (generation, next unit); with the old fields it gives up, but with the new ones
     * (more units) the swap would succeed and run a chunk of the new job twice. A new
     * generation with no unit to claim makes that swap fail; the fields' release stores order
     * it before them for a thread that reads them with acquire. */
    const uint32_t gen = LOAD(&pool.generation, RLX) + 1;
    STORE(&pool.state, (uint64_t)gen << 32 | UINT32_MAX, SEQ);
    STORE(&pool.fn, fn, REL);
    STORE(&pool.ctx, ctx, REL);
    STORE(&pool.n, n, REL);
    STORE(&pool.unit, unit, REL);
    STORE(&pool.grain, (uint32_t)grain_units, REL);
    STORE(&pool.units, (uint32_t)units, REL);
    STORE(&pool.width, width, REL);
    STORE(&pool.done, 0, RLX);
    STORE(&pool.owner_waiting, 0, RLX);
    STORE(&pool.state, (uint64_t)gen << 32, SEQ); /* publishes the fields above */
    STORE(&pool.generation, gen, SEQ);
    if (LOAD(&pool.sleepers, SEQ) > 0) wake_all(&pool.generation);

    run_chunks(gen, 0);
    /* the chunks other threads still hold: spin while they make progress, else sleep until
     * the thread that finishes the last one wakes us */
    for (;;) {
        uint32_t finished = LOAD(&pool.done, ACQ);
        if (finished == (uint32_t)units) break;
        if (spin_while_equal(&pool.done, finished)) continue;
        STORE(&pool.owner_waiting, 1, SEQ);
        while ((finished = LOAD(&pool.done, SEQ)) != (uint32_t)units)
            wait_while_equal(&pool.done, finished);
        break;
    }
    pthread_mutex_unlock(&pool_owner);
}

int64_t fc_parallel_grain(int64_t n, int nthreads, int64_t min_grain) {
    const int64_t chunks = 16 * (int64_t)(nthreads < 1 ? 1 : nthreads);
    int64_t grain = (n + chunks - 1) / chunks;
    if (grain < min_grain) grain = min_grain;
    return grain < 1 ? 1 : grain;
}
