#include "tests/support/http_get.h"

#include "absl/strings/str_cat.h"
#include "httplib.h"

namespace tally::testing {

absl::StatusOr<std::string> HttpGet(const std::string& address,
                                    const std::string& path, int* status) {
  httplib::Client client("http://" + address);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(10, 0);
  httplib::Result result = client.Get(path);
  if (!result) {
    return absl::UnavailableError(
        absl::StrCat("GET http://", address, path,
                     " failed: ", httplib::to_string(result.error())));
  }
  *status = result->status;
  return result->body;
}

}  // namespace tally::testing
