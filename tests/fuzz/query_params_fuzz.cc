// Fuzzes what the gateway takes from a request: the query string, decoded
// by cpp-httplib exactly as the server does, and the Last-Event-ID header,
// turned into upstream requests (services/gateway/query_params.h).
// Input: the first line is the Last-Event-ID value ("-" for none), the
// rest the query string. Invariant: every error is InvalidArgument.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "httplib.h"
#include "services/gateway/query_params.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

template <typename Request>
void Check(const absl::StatusOr<Request>& request) {
  if (!request.ok()) {
    FUZZ_CHECK(request.status().code() == absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  std::optional<std::string> last_event_id;
  std::string query = input;
  if (newline != std::string::npos) {
    if (input.compare(0, newline, "-") != 0) {
      last_event_id = input.substr(0, newline);
    }
    query = input.substr(newline + 1);
  }
  httplib::Params params;
  httplib::detail::parse_query_text(query, params);
  Check(tally::gateway::ElectionRequestFrom(params));
  Check(tally::gateway::ResultsRequestFrom(params));
  Check(tally::gateway::WatchRequestFrom(params, last_event_id));
  return 0;
}
