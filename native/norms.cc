// Kernel family: norms (to be written).
#include "common.h"

namespace xfmr {

void register_norms(napi_env, napi_value) {}

}  // namespace xfmr
