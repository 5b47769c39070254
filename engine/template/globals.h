#pragma once
// The global functions a chat template can call: jinja2's range, namespace and dict, and the
// two transformers adds, raise_exception and strftime_now.
#include "engine/template/value.h"

namespace troupe::jinja {

Dict make_globals();

}  // namespace troupe::jinja
