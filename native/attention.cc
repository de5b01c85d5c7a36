// Kernel family: attention (to be written).
#include "common.h"

namespace xfmr {

void register_attention(napi_env, napi_value) {}

}  // namespace xfmr
