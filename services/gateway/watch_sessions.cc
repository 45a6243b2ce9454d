#include "services/gateway/watch_sessions.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/gateway/http_json.h"
#include "services/gateway/query_params.h"
#include "services/gateway/sse_stream.h"

namespace tally::gateway {

struct WatchSessions::Session {
  std::shared_ptr<UpstreamWatch> watch;
  bool greeted = false;
};

void WatchSessions::Serve(const httplib::Request& request,
                          httplib::Response& response) {
  std::optional<std::string> last_event_id;
  if (request.has_header("Last-Event-ID")) {
    last_event_id = request.get_header_value("Last-Event-ID");
  }
  absl::StatusOr<v1::WatchRequest> watch_request =
      WatchRequestFrom(request.params, last_event_id);
  if (!watch_request.ok()) {
    response.status = 400;
    response.set_content(ErrorJson(watch_request.status().message()),
                         "application/json");
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      response.status = 503;
      response.set_content(ErrorJson("the gateway is shutting down"),
                           "application/json");
      return;
    }
    if (open_ >= options_.max_clients) {
      response.status = 503;
      response.set_content(
          ErrorJson(absl::StrCat("too many watch streams (limit ",
                                 options_.max_clients, "); retry later")),
          "application/json");
      return;
    }
    ++open_;
    watches_.remove_if(
        [](const std::weak_ptr<UpstreamWatch>& w) { return w.expired(); });
  }
  auto session = std::make_shared<Session>();
  session->watch = UpstreamWatch::Start(
      upstream_, *watch_request, options_.watch_deadline, options_.queue_limit);
  {
    absl::MutexLock lock(&mu_);
    watches_.push_back(session->watch);
    // Stop may have run between the two locks: it cannot have seen this
    // call, so cancel it here.
    if (stopping_) session->watch->Cancel();
  }
  response.status = 200;
  response.set_header("Cache-Control", "no-cache");
  // Tells nginx-style proxies not to buffer the stream.
  response.set_header("X-Accel-Buffering", "no");
  response.set_chunked_content_provider(
      "text/event-stream",
      [this, session](size_t /*offset*/, httplib::DataSink& sink) {
        return Pump(*session, sink);
      },
      // Runs when the response is destroyed: written, failed or never sent.
      [this, session](bool /*success*/) {
        session->watch->Cancel();
        absl::MutexLock lock(&mu_);
        --open_;
      });
}

bool WatchSessions::Pump(Session& session, httplib::DataSink& sink) {
  auto write = [&sink](const std::string& frame) {
    return sink.write(frame.data(), frame.size());
  };
  if (!session.greeted) {
    session.greeted = true;
    return write(SseRetryFrame());
  }
  v1::WatchResponse message;
  grpc::Status status;
  switch (session.watch->Take(options_.keepalive_interval, &message, &status)) {
    case UpstreamWatch::Next::kMessage: {
      absl::StatusOr<std::string> frame = SseFrame(message);
      if (!frame.ok()) {
        return write(SseCommentFrame(absl::StrCat(
            "skipped an upstream message: ", frame.status().message())));
      }
      return write(*frame);
    }
    case UpstreamWatch::Next::kTimeout:
      return write(SseCommentFrame("keepalive"));
    case UpstreamWatch::Next::kEnded:
      break;
  }
  // The upstream call is over (it broke, it ended after compacted, its
  // deadline passed or the gateway is stopping): end the response and let
  // the browser reconnect with its Last-Event-ID.
  const std::string error = upstream_->NoteCall(
      Upstream::Target::kFeed, session.watch->target(), status);
  if (!status.ok()) {
    write(SseCommentFrame(absl::StrCat("upstream watch ended: code ",
                                       static_cast<int>(status.error_code()),
                                       ": ", error)));
  }
  sink.done();
  return true;
}

void WatchSessions::Stop() {
  std::list<std::shared_ptr<UpstreamWatch>> open;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (const std::weak_ptr<UpstreamWatch>& weak : watches_) {
      if (std::shared_ptr<UpstreamWatch> watch = weak.lock()) {
        open.push_back(std::move(watch));
      }
    }
  }
  for (const std::shared_ptr<UpstreamWatch>& watch : open) watch->Cancel();
}

bool WatchSessions::WaitIdle(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      watches_.remove_if(
          [](const std::weak_ptr<UpstreamWatch>& w) { return w.expired(); });
      if (open_ == 0 && watches_.empty()) return true;
    }
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
}

size_t WatchSessions::open_streams() {
  absl::MutexLock lock(&mu_);
  return open_;
}

}  // namespace tally::gateway
