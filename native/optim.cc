// Kernel family: optim (to be written).
#include "common.h"

namespace xfmr {

void register_optim(napi_env, napi_value) {}

}  // namespace xfmr
