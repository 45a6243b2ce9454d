// GET /v1/watch: each SSE client gets its own upstream Feed.Watch, relayed
// message by message (see sse_stream.h for the framing). Enforces the SSE
// client limit (503 beyond it) and ends every stream on shutdown by
// cancelling its upstream call.
#ifndef TALLY_SERVICES_GATEWAY_WATCH_SESSIONS_H_
#define TALLY_SERVICES_GATEWAY_WATCH_SESSIONS_H_

#include <cstddef>
#include <list>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "httplib.h"
#include "services/gateway/upstream.h"
#include "services/gateway/upstream_watch.h"

namespace tally::gateway {

struct WatchOptions {
  // Concurrent SSE streams; one more is answered 503.
  size_t max_clients = 1000;
  // A comment line after this much silence keeps proxies from timing the
  // stream out and detects clients that went away.
  absl::Duration keepalive_interval = absl::Seconds(15);
  // Deadline of each upstream Watch call. When it passes the stream ends
  // and the browser resumes from its last id (also spreading clients over
  // relays again).
  absl::Duration watch_deadline = absl::Hours(1);
  // Upstream messages buffered per client before reading pauses.
  size_t queue_limit = 256;
};

class WatchSessions {
 public:
  WatchSessions(Upstream* upstream, WatchOptions options)
      : upstream_(upstream), options_(options) {}

  // Answers one /v1/watch request: 503 beyond the limit or once stopping,
  // 400 for bad parameters, else a text/event-stream response streamed by
  // the calling HTTP worker until the upstream call ends.
  void Serve(const httplib::Request& request, httplib::Response& response);

  // Refuses new streams and cancels the upstream call of every open one,
  // which ends its HTTP response.
  void Stop();

  // Waits until no stream is open and every upstream call has finished.
  bool WaitIdle(absl::Duration timeout);

  size_t open_streams();

 private:
  struct Session;
  // Writes what comes next on the stream; false when the client is gone.
  bool Pump(Session& session, httplib::DataSink& sink);

  Upstream* const upstream_;
  const WatchOptions options_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  size_t open_ ABSL_GUARDED_BY(mu_) = 0;
  // Every call started; an entry expires when its call has finished and
  // its stream is closed.
  std::list<std::weak_ptr<UpstreamWatch>> watches_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tally::gateway

#endif  // TALLY_SERVICES_GATEWAY_WATCH_SESSIONS_H_
