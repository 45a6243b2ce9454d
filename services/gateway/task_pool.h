// The worker pool behind httplib::Server. httplib serves each connection on
// one pool thread for the connection's whole life, so an SSE stream holds a
// thread until it ends. This pool starts threads only when every existing
// one is busy, up to a maximum sized for the SSE limit plus a reserve for
// JSON and file requests; an idle gateway keeps a few threads, not
// thousands.
#ifndef TALLY_SERVICES_GATEWAY_TASK_POOL_H_
#define TALLY_SERVICES_GATEWAY_TASK_POOL_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "httplib.h"

namespace tally::gateway {

class GrowingTaskPool : public httplib::TaskQueue {
 public:
  explicit GrowingTaskPool(size_t max_threads);
  ~GrowingTaskPool() override;

  // Runs `fn` on an idle thread, a new one while below the maximum, or
  // else queues it for the next thread that becomes idle.
  void enqueue(std::function<void()> fn) override;
  // Runs what is queued, then joins every thread.
  void shutdown() override;

 private:
  void Work();

  const size_t max_threads_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> jobs_ ABSL_GUARDED_BY(mu_);
  size_t idle_ ABSL_GUARDED_BY(mu_) = 0;
  size_t starting_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tally::gateway

#endif  // TALLY_SERVICES_GATEWAY_TASK_POOL_H_
