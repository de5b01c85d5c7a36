// Kernel family: gemm (to be written).
#include "common.h"

namespace xfmr {

void register_gemm(napi_env, napi_value) {}

}  // namespace xfmr
