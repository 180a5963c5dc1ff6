/* The Winograd template winograd_impl.h instantiated for each output tile size, F(2x2, 3x3)
 * and F(4x4, 3x3), with the element type and vector macros that the including
 * csrc/winograd_<isa>.c defined; #undefs them afterwards (FC_ISA stays), so the file can
 * define the next element type. No include guard on purpose. */
#define FC_WG_M 2
#include "winograd_impl.h"
#undef FC_WG_M
#define FC_WG_M 4
#include "winograd_impl.h"
#undef FC_WG_M

#undef FC_T
#undef FC_TNAME
#undef FC_VEC
#undef FC_VL
#undef FC_VZERO
#undef FC_VSET1
#undef FC_VLOAD
#undef FC_VSTORE
#undef FC_VADD
#undef FC_VSUB
#undef FC_VMUL
#undef FC_VFMA
#undef FC_WG_GATHER_ROWS
#undef FC_WG_SCATTER_ROWS
#undef FC_WG_UKERNEL
#undef FC_VSTREAM
#undef FC_WG_GATHER_FILTERS
