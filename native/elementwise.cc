// Kernel family: elementwise (to be written).
#include "common.h"

namespace xfmr {

void register_elementwise(napi_env, napi_value) {}

}  // namespace xfmr
