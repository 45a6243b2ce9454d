#include "services/gateway/task_pool.h"

#include <utility>

namespace tally::gateway {

GrowingTaskPool::GrowingTaskPool(size_t max_threads)
    : max_threads_(max_threads == 0 ? 1 : max_threads) {}

GrowingTaskPool::~GrowingTaskPool() { shutdown(); }

void GrowingTaskPool::enqueue(std::function<void()> fn) {
  absl::MutexLock lock(&mu_);
  jobs_.push_back(std::move(fn));
  // Idle (and just started) threads take queued jobs; start another only
  // when they cannot take them all.
  if (idle_ + starting_ < jobs_.size() && threads_.size() < max_threads_ &&
      !stopping_) {
    ++starting_;
    threads_.emplace_back([this] { Work(); });
  }
}

void GrowingTaskPool::shutdown() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  for (std::thread& thread : threads) thread.join();
}

void GrowingTaskPool::Work() {
  bool started = false;
  while (true) {
    std::function<void()> job;
    {
      absl::MutexLock lock(&mu_);
      if (!started) {
        --starting_;
        started = true;
      }
      ++idle_;
      mu_.Await(absl::Condition(
          +[](GrowingTaskPool* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return !self->jobs_.empty() || self->stopping_;
          },
          this));
      --idle_;
      if (jobs_.empty()) return;  // stopping, and nothing left to run
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

}  // namespace tally::gateway
