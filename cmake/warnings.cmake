# Warnings as an INTERFACE target that each of our targets links, instead of global flags, so
# third-party code compiled in the tree is not held to them.
add_library(vision_warnings INTERFACE)
target_compile_options(vision_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow=local
                       -Wno-missing-field-initializers)
