/* Run-time instruction-set detection: decides once which kernel variants may execute. */
#include "internal.h"

#if FC_X86_64
#include <cpuid.h>

/* XCR0 says which register files the OS saves on a context switch; an ISA is usable only if
 * the CPU has it AND the OS preserves its registers. */
static uint64_t read_xcr0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

static fc_isa detect_isa(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return FC_ISA_SCALAR;
    const int has_osxsave = (ecx >> 27) & 1, has_fma = (ecx >> 12) & 1, has_avx = (ecx >> 28) & 1;
    if (!has_osxsave || !has_avx || !has_fma) return FC_ISA_SCALAR;
    const uint64_t xcr0 = read_xcr0();
    if ((xcr0 & 0x6) != 0x6) return FC_ISA_SCALAR; /* XMM and YMM state */
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return FC_ISA_SCALAR;
    const int has_avx2 = (ebx >> 5) & 1;
    if (!has_avx2) return FC_ISA_SCALAR;
    const int has_avx512 = ((ebx >> 16) & 1) /* F */ && ((ebx >> 17) & 1) /* DQ */ &&
                           ((ebx >> 30) & 1) /* BW */ && ((ebx >> 31) & 1) /* VL */;
    if (has_avx512 && (xcr0 & 0xe6) == 0xe6) return FC_ISA_AVX512; /* opmask, ZMM hi/lo */
    return FC_ISA_AVX2;
}
#else
static fc_isa detect_isa(void) { return FC_ISA_SCALAR; }
#endif

/* -1: not detected yet. Detection is idempotent, so a race between threads is harmless. */
static int detected_isa = -1;
static int isa_limit = FC_ISA_AVX512;

fc_isa fc_cpu_isa(void) {
    if (detected_isa < 0) detected_isa = (int)detect_isa();
    return (fc_isa)detected_isa;
}

fc_isa fc_active_isa(void) { return (fc_isa)FC_MIN((int)fc_cpu_isa(), isa_limit); }

fc_status fc_set_isa_limit(fc_isa isa) {
    if ((int)isa < FC_ISA_SCALAR || (int)isa > FC_ISA_AVX512) return FC_ERR_INVALID_ARGUMENT;
    if ((int)isa > (int)fc_cpu_isa()) return FC_ERR_ISA_UNAVAILABLE;
    isa_limit = (int)isa;
    return FC_OK;
}

/* Defaults until the Python layer reports the machine's (fastconv.machine_params): Zen 4's. */
static fc_cache_sizes cache_sizes = {32 * 1024, 1024 * 1024, 32 * 1024 * 1024};

fc_status fc_set_cache_sizes(const fc_cache_sizes *s) {
    if (s == NULL || s->l1d < 4096 || s->l2 < s->l1d || s->l2 > ((int64_t)1 << 30) || s->l3 < 0)
        return FC_ERR_INVALID_ARGUMENT;
    cache_sizes = *s;
    return FC_OK;
}

void fc_get_cache_sizes(fc_cache_sizes *out) {
    if (out) *out = cache_sizes;
}

int64_t fc_cache_l1d(void) { return cache_sizes.l1d; }
int64_t fc_cache_l2(void) { return cache_sizes.l2; }
int64_t fc_cache_l3(void) { return cache_sizes.l3; }

