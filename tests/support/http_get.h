// One plain-HTTP GET for tests that read admin endpoints (/metrics,
// /healthz) or the gateway: bounded connect and read timeouts.
#ifndef TALLY_TESTS_SUPPORT_HTTP_GET_H_
#define TALLY_TESTS_SUPPORT_HTTP_GET_H_

#include <string>

#include "absl/status/statusor.h"

namespace tally::testing {

// GET http://ADDRESS/PATH: the body, and the HTTP status in `*status`;
// UNAVAILABLE when there is no answer.
absl::StatusOr<std::string> HttpGet(const std::string& address,
                                    const std::string& path, int* status);

}  // namespace tally::testing

#endif  // TALLY_TESTS_SUPPORT_HTTP_GET_H_
