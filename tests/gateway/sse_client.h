// A Server-Sent Events client for tests: one GET read by its own thread,
// parsed into messages that the test waits for with timeouts.
#ifndef TALLY_TESTS_GATEWAY_SSE_CLIENT_H_
#define TALLY_TESTS_GATEWAY_SSE_CLIENT_H_

#include <deque>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "httplib.h"

namespace tally::testing {

struct SseMessage {
  std::string event;
  std::optional<std::string> id;
  std::string data;
};

class SseClient {
 public:
  // Starts GET `path` on host:port with `headers`.
  SseClient(const std::string& host, int port, const std::string& path,
            httplib::Headers headers = {});
  ~SseClient();

  // The next message (comments and retry fields are counted, not
  // returned). DeadlineExceeded when none came within `timeout`;
  // OutOfRange once the response has ended.
  absl::StatusOr<SseMessage> Next(absl::Duration timeout);
  // Waits for the end of the response.
  bool WaitEnd(absl::Duration timeout);

  // The response status and a header, once the headers have arrived.
  absl::StatusOr<int> Status(absl::Duration timeout);
  std::string Header(const std::string& name);
  // What the stream said before its first message, and comments so far.
  std::optional<int> retry_ms();
  int comments();
  std::string body_of_error();

 private:
  void Run(std::string path, httplib::Headers headers);
  // Parses the complete blocks at the front of buffer_.
  void ParseLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  httplib::Client client_;
  std::thread thread_;
  absl::Mutex mu_;
  std::string buffer_ ABSL_GUARDED_BY(mu_);
  std::deque<SseMessage> messages_ ABSL_GUARDED_BY(mu_);
  std::optional<int> status_ ABSL_GUARDED_BY(mu_);
  httplib::Headers headers_ ABSL_GUARDED_BY(mu_);
  std::optional<int> retry_ms_ ABSL_GUARDED_BY(mu_);
  int comments_ ABSL_GUARDED_BY(mu_) = 0;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace tally::testing

#endif  // TALLY_TESTS_GATEWAY_SSE_CLIENT_H_
