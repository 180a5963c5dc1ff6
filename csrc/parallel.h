/* Parallel loops that never wait for a late thread (parallel.c).
 *
 * fc_parallel_for(nthreads, n, grain, fn, ctx) runs fn over [0, n) in chunks and returns when
 * every chunk is done. The calling thread starts on the first chunk at once and every thread,
 * the caller included, claims the next unclaimed items from a shared counter: the caller half
 * of an equal share of what is left but at least `grain` items, pool threads `grain` items
 * (the last chunk may be shorter), so threads finish within a grain of each other. Pool
 * threads join as they wake. A thread that sleeps or has lost its
 * core to another process therefore delays the call by at most the chunk it holds: with none
 * of them awake the caller does all the work at one thread's speed, where a statically divided
 * loop ending at a barrier (an OpenMP `parallel for`) waits for the latest thread to arrive.
 *
 * fn(ctx, begin, end, thread): thread is in [0, nthreads) (the caller is 0) and no two chunks
 * run at once with the same index, so it may pick per-thread scratch space. Which thread runs
 * which chunk varies from call to call: a chunk's result must not depend on it.
 *
 * Runs serially on the caller (thread 0, chunks of `grain` items in order) when
 * nthreads <= 1, when there is a single chunk, inside another fc_parallel_for (nested loops),
 * and while another thread of the process is running one (two Python threads calling at once).
 */
#ifndef FASTCONV_PARALLEL_H
#define FASTCONV_PARALLEL_H

#include <stdint.h>

/* Threads a parallel loop runs on at most, the caller included: a kernel may size per-thread
 * arrays by it (thread indices stay below it whatever nthreads asks). */
#define FC_PARALLEL_MAX_THREADS 256

typedef void (*fc_range_fn)(void *ctx, int64_t begin, int64_t end, int thread);

void fc_parallel_for(int nthreads, int64_t n, int64_t grain, fc_range_fn fn, void *ctx);

/* The smallest chunk for a loop of n items on nthreads threads: 1/16 of an equal share, and
 * no fewer than `min_grain` items. Small enough that threads finish within a small chunk of
 * each other (two threads: within ~3% of a share, from about 10 guided claims each) and that
 * a late thread's share is taken over by the others, large enough that claiming one (an
 * atomic compare-and-swap) costs nothing next to its work. */
int64_t fc_parallel_grain(int64_t n, int nthreads, int64_t min_grain);

/* Monotonic wall-clock seconds (for profiles and measurements). */
double fc_wall_seconds(void);

#endif
