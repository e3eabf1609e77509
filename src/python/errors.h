// ember::Error -> the Python exception of its kind (python/ember/errors.py), message kept.
#pragma once

#include <nanobind/nanobind.h>

namespace ember::python {

// Looks up the classes of ember.errors and translates every ember::Error thrown through a
// binding into the one of its ErrorKind. Called once, at import.
void register_error_translator();

}  // namespace ember::python
