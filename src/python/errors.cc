// ember::Error -> ember.errors.<Kind>Error: the class hierarchy lives in Python (so that each
// kind can also be a ValueError, FileNotFoundError, ...); C++ only picks the class by kind.
#include "errors.h"

#include <array>
#include <exception>

#include "ember/error.h"

namespace nb = nanobind;

namespace ember::python {
namespace {

constexpr std::array<ErrorKind, 6> kKinds = {ErrorKind::kInvalidInput, ErrorKind::kNotFound,
                                             ErrorKind::kUnsupported,  ErrorKind::kOverloaded,
                                             ErrorKind::kUnavailable,  ErrorKind::kInternal};

// The class of each kind, indexed by the enum's value; held for the life of the process.
std::array<PyObject*, kKinds.size()> g_classes{};

}  // namespace

void register_error_translator() {
  nb::module_ errors = nb::module_::import_("ember.errors");
  nb::object by_kind = errors.attr("BY_KIND");
  for (ErrorKind k : kKinds) {
    nb::object cls = by_kind[nb::str(error_kind_name(k).data(), error_kind_name(k).size())];
    g_classes[static_cast<size_t>(k)] = cls.release().ptr();
  }
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const Error& e) {
      const auto i = static_cast<size_t>(e.kind());
      PyObject* cls = i < g_classes.size() ? g_classes[i] : PyExc_RuntimeError;
      PyErr_SetString(cls, e.what());
    }
  });
}

}  // namespace ember::python
