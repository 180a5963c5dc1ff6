/* The kernels' thread pool (csrc/parallel.c) under back-to-back calls whose chunk counts and
 * grains go up and down: every item must be run exactly once per call, by a call of that
 * job (its own context), with a thread index below the thread count. Exits 2 on a wrong run,
 * hangs on a lost wake-up or an over-counted `done` (run it under a timeout; see
 * tests/test_parallel.py).
 *
 *   pool_check THREADS CALLS
 */
#include <stdio.h>
#include <stdlib.h>

#include "parallel.h"

#define MAX_ITEMS 64

typedef struct {
    int call, nthreads;
    int64_t n;
    int hits[MAX_ITEMS];
} job;

static void run_items(void *ctx, int64_t begin, int64_t end, int thread) {
    job *j = (job *)ctx;
    if (thread < 0 || thread >= j->nthreads || begin < 0 || end > j->n || begin >= end) {
        fprintf(stderr, "call %d: range [%lld, %lld) of %lld on thread %d of %d\n", j->call,
                (long long)begin, (long long)end, (long long)j->n, thread, j->nthreads);
        exit(2);
    }
    for (int64_t i = begin; i < end; i++) __atomic_add_fetch(&j->hits[i], 1, __ATOMIC_RELAXED);
}

int main(int argc, char **argv) {
    const int nthreads = argc > 1 ? atoi(argv[1]) : 2, calls = argc > 2 ? atoi(argv[2]) : 100000;
    for (int c = 0; c < calls; c++) {
        job j = {c, nthreads, 1 + (c * 7) % 13, {0}};
        const int64_t grain = 1 + (c / 3) % 4;
        fc_parallel_for(nthreads, j.n, grain, run_items, &j);
        for (int64_t i = 0; i < j.n; i++)
            if (j.hits[i] != 1) {
                fprintf(stderr, "call %d: item %lld of %lld ran %d times\n", c, (long long)i,
                        (long long)j.n, j.hits[i]);
                return 2;
            }
    }
    printf("pool_check: %d calls on %d threads, every item once\n", calls, nthreads);
    return 0;
}
