/* direct kernel, portable C (baseline x86-64 or any other target): conv_direct_impl.h with
 * one-lane "vectors". Also the reference the vector variants are tested against. */
#include "conv_direct.h"

#define FC_ISA scalar
#define FC_KB FC_DIRECT_SCALAR_KB
#define FC_NV FC_DIRECT_SCALAR_NV
#define FC_BKB FC_DIRECT_SCALAR_BKB
#define FC_BNW FC_DIRECT_SCALAR_BNW

#define FC_T float
#define FC_TNAME f32
#define FC_VEC float
#define FC_VL 1
#define FC_VMASK int
#define FC_VZERO() 0.0f
#define FC_VSET1(s) (s)
#define FC_VLOAD(p) (*(p))
#define FC_VSTORE(p, v) (*(p) = (v))
#define FC_VFMA(a, b, c) ((a) * (b) + (c))
#define FC_VMASK_RANGE(lo, hi) ((lo) <= 0 && 0 < (hi))
#define FC_VLOAD_MASK(p, m) ((m) ? *(p) : 0.0f)
#define FC_VSTORE_MASK(p, m, v) ((m) ? (void)(*(p) = (v)) : (void)0)
#define FC_VSTORE_MASK_FAST 1
#define FC_VTRANSPOSE(r) ((void)(r)) /* one lane: a 1x1 transpose */
#include "conv_direct_impl.h"

#define FC_T double
#define FC_TNAME f64
#define FC_VEC double
#define FC_VL 1
#define FC_VMASK int
#define FC_VZERO() 0.0
#define FC_VSET1(s) (s)
#define FC_VLOAD(p) (*(p))
#define FC_VSTORE(p, v) (*(p) = (v))
#define FC_VFMA(a, b, c) ((a) * (b) + (c))
#define FC_VMASK_RANGE(lo, hi) ((lo) <= 0 && 0 < (hi))
#define FC_VLOAD_MASK(p, m) ((m) ? *(p) : 0.0)
#define FC_VSTORE_MASK(p, m, v) ((m) ? (void)(*(p) = (v)) : (void)0)
#define FC_VSTORE_MASK_FAST 1
#define FC_VTRANSPOSE(r) ((void)(r)) /* one lane: a 1x1 transpose */
#include "conv_direct_impl.h"
