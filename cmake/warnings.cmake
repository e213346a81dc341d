# Linked PRIVATE by every target of ours: warnings are a property of our code, not of our users'.
add_library(dealerline_warnings INTERFACE)
add_library(dealerline::warnings ALIAS dealerline_warnings)
target_compile_options(dealerline_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor)
