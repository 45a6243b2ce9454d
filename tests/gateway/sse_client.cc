#include "tests/gateway/sse_client.h"

#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tally::testing {

SseClient::SseClient(const std::string& host, int port, const std::string& path,
                     httplib::Headers headers)
    : client_(host, port) {
  client_.set_connection_timeout(10, 0);
  // Keepalive comments arrive well within this (the tests use short ones).
  client_.set_read_timeout(60, 0);
  thread_ = std::thread(
      [this, path, headers = std::move(headers)] { Run(path, headers); });
}

SseClient::~SseClient() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  client_.stop();
  thread_.join();
}

void SseClient::Run(std::string path, httplib::Headers headers) {
  client_.Get(
      path, headers,
      [this](const httplib::Response& response) {
        absl::MutexLock lock(&mu_);
        status_ = response.status;
        headers_ = response.headers;
        return !stopping_;
      },
      [this](const char* data, size_t length) {
        absl::MutexLock lock(&mu_);
        buffer_.append(data, length);
        ParseLocked();
        return !stopping_;
      });
  absl::MutexLock lock(&mu_);
  if (!status_.has_value()) status_ = -1;
  ended_ = true;
}

void SseClient::ParseLocked() {
  while (true) {
    const size_t end = buffer_.find("\n\n");
    if (end == std::string::npos) return;
    const std::string block = buffer_.substr(0, end);
    buffer_.erase(0, end + 2);
    if (status_.value_or(0) != 200) continue;  // an error body
    SseMessage message;
    bool has_field = false;
    for (absl::string_view line : absl::StrSplit(block, '\n')) {
      if (absl::StartsWith(line, ":")) {
        ++comments_;
        continue;
      }
      const size_t colon = line.find(':');
      absl::string_view field = line.substr(0, colon);
      absl::string_view value =
          colon == absl::string_view::npos ? "" : line.substr(colon + 1);
      absl::ConsumePrefix(&value, " ");
      if (field == "retry") {
        int ms = 0;
        if (absl::SimpleAtoi(value, &ms)) retry_ms_ = ms;
      } else if (field == "event") {
        message.event = std::string(value);
        has_field = true;
      } else if (field == "id") {
        message.id = std::string(value);
        has_field = true;
      } else if (field == "data") {
        if (!message.data.empty()) message.data += "\n";
        absl::StrAppend(&message.data, value);
        has_field = true;
      }
    }
    if (has_field) messages_.push_back(std::move(message));
  }
}

absl::StatusOr<SseMessage> SseClient::Next(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(
      absl::Condition(
          +[](SseClient* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return !self->messages_.empty() || self->ended_;
          },
          this),
      timeout);
  if (!messages_.empty()) {
    SseMessage message = std::move(messages_.front());
    messages_.pop_front();
    return message;
  }
  if (ended_) return absl::OutOfRangeError("the SSE response has ended");
  return absl::DeadlineExceededError(
      absl::StrCat("no SSE message within ", absl::FormatDuration(timeout)));
}

bool SseClient::WaitEnd(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&ended_), timeout);
}

absl::StatusOr<int> SseClient::Status(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(
      absl::Condition(
          +[](SseClient* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return self->status_.has_value();
          },
          this),
      timeout);
  if (!status_.has_value()) {
    return absl::DeadlineExceededError("no response headers");
  }
  return *status_;
}

std::string SseClient::Header(const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto it = headers_.find(name);
  return it == headers_.end() ? std::string() : it->second;
}

std::optional<int> SseClient::retry_ms() {
  absl::MutexLock lock(&mu_);
  return retry_ms_;
}

int SseClient::comments() {
  absl::MutexLock lock(&mu_);
  return comments_;
}

std::string SseClient::body_of_error() {
  absl::MutexLock lock(&mu_);
  return buffer_;
}

}  // namespace tally::testing
