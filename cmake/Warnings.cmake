# Warnings are applied per target (ember_warnings) so that third-party headers stay quiet.
add_library(ember_warnings INTERFACE)
target_compile_options(ember_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                                -Wno-missing-field-initializers)
if(EMBER_WERROR)
  target_compile_options(ember_warnings INTERFACE -Werror)
endif()
