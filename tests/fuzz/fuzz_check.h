// FUZZ_CHECK: an invariant of a fuzz target. A violation prints what was
// expected and aborts, which libFuzzer reports as a crash and saves the
// input (so a wrong answer is found like a memory error is). Single
// threaded, like the targets.
#ifndef TALLY_TESTS_FUZZ_FUZZ_CHECK_H_
#define TALLY_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                          \
  do {                                                                 \
    if (!(condition)) {                                                \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, \
                   __LINE__, #condition);                              \
      std::abort();                                                    \
    }                                                                  \
  } while (false)

#endif  // TALLY_TESTS_FUZZ_FUZZ_CHECK_H_
