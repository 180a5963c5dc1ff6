/* depthwise kernel, portable C (baseline x86-64 or any other target): conv_depthwise_impl.h with
 * one-lane "vectors". */
#include "conv_depthwise.h"

#define FC_ISA scalar
#define FC_ACC FC_DW_SCALAR_ACC
#define FC_NV FC_DW_SCALAR_NV
#define FC_ACC3 FC_DW_SCALAR_ACC3
#define FC_P FC_DW_SCALAR_P
#define FC_CV FC_DW_SCALAR_CV

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
#define FC_VMASK_FIRST(n) ((n) > 0)
#define FC_VLOAD_MASK(p, m) ((m) ? *(p) : 0.0f)
#define FC_VSTORE_MASK(p, m, v) ((m) ? (void)(*(p) = (v)) : (void)0)
#define FC_VTRANSPOSE(r) ((void)(r)) /* one lane: a 1x1 transpose */
#define FC_VDEINTERLEAVE(a, b, even, odd) ((even) = (a), (odd) = (b))
#define FC_VSTORE_MASK_FAST 1
#include "conv_depthwise_impl.h"

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
#define FC_VMASK_FIRST(n) ((n) > 0)
#define FC_VLOAD_MASK(p, m) ((m) ? *(p) : 0.0)
#define FC_VSTORE_MASK(p, m, v) ((m) ? (void)(*(p) = (v)) : (void)0)
#define FC_VTRANSPOSE(r) ((void)(r)) /* one lane: a 1x1 transpose */
#define FC_VDEINTERLEAVE(a, b, even, odd) ((even) = (a), (odd) = (b))
#define FC_VSTORE_MASK_FAST 1
#include "conv_depthwise_impl.h"
