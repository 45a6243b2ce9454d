// Flags shared by the tallyctl commands that talk to a server.
#ifndef TALLY_CLIENTS_TALLYCTL_CLIENT_FLAGS_H_
#define TALLY_CLIENTS_TALLYCTL_CLIENT_FLAGS_H_

#include <cstdint>
#include <string>

#include "absl/flags/declare.h"

ABSL_DECLARE_FLAG(std::string, aggregator);
ABSL_DECLARE_FLAG(uint32_t, timeout_ms);
ABSL_DECLARE_FLAG(bool, json);
ABSL_DECLARE_FLAG(std::string, contest);
ABSL_DECLARE_FLAG(std::string, scope);

#endif  // TALLY_CLIENTS_TALLYCTL_CLIENT_FLAGS_H_
