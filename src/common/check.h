// Invariant checks. A failed WEFT_CHECK is a programming error: it prints and aborts.
#pragma once

#include <cstdio>
#include <cstdlib>

#define WEFT_CHECK(cond)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);       \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)
