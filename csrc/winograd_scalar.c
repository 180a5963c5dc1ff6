/* Winograd kernel, portable C: winograd_tiles.h with one-lane "vectors". */
#include "winograd.h"

#define FC_ISA scalar

#define FC_T float
#define FC_TNAME f32
#define FC_VEC float
#define FC_VL 1
#define FC_VZERO() 0.0f
#define FC_VSET1(s) (s)
#define FC_VLOAD(p) (*(p))
#define FC_VSTORE(p, v) (*(p) = (v))
#define FC_VADD(a, b) ((a) + (b))
#define FC_VSUB(a, b) ((a) - (b))
#define FC_VMUL(a, b) ((a) * (b))
#define FC_VFMA(a, b, c) ((a) * (b) + (c))
#include "winograd_tiles.h"

#define FC_T double
#define FC_TNAME f64
#define FC_VEC double
#define FC_VL 1
#define FC_VZERO() 0.0
#define FC_VSET1(s) (s)
#define FC_VLOAD(p) (*(p))
#define FC_VSTORE(p, v) (*(p) = (v))
#define FC_VADD(a, b) ((a) + (b))
#define FC_VSUB(a, b) ((a) - (b))
#define FC_VMUL(a, b) ((a) * (b))
#define FC_VFMA(a, b, c) ((a) * (b) + (c))
#include "winograd_tiles.h"
