// Kernel family: rope_embedding (to be written).
#include "common.h"

namespace xfmr {

void register_rope_embedding(napi_env, napi_value) {}

}  // namespace xfmr
