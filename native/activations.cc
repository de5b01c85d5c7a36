// Kernel family: activations (to be written).
#include "common.h"

namespace xfmr {

void register_activations(napi_env, napi_value) {}

}  // namespace xfmr
