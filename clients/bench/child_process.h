// Real server processes for the benchmark driver: start a binary, wait for
// its "serving on HOST:PORT" line, signal it, reap it. The same pattern as
// tests/support/process.h, without the test framework, so the driver is a
// plain client binary.
#ifndef TALLY_CLIENTS_BENCH_CHILD_PROCESS_H_
#define TALLY_CLIENTS_BENCH_CHILD_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tally::bench {

class ChildProcess {
 public:
  // Starts `argv[0]` with the rest of `argv`; stdout and stderr go to
  // `log_path` (truncated first).
  static absl::StatusOr<ChildProcess> Start(
      const std::vector<std::string>& argv, const std::string& log_path);
  ChildProcess() = default;
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ~ChildProcess();  // SIGKILLs a still-running child

  // Waits for a line containing `marker` followed by a token; returns the
  // token (for "serving on " the HOST:PORT).
  absl::StatusOr<std::string> WaitFor(const std::string& marker,
                                      absl::Duration timeout);
  absl::StatusOr<std::string> WaitServing(absl::Duration timeout) {
    return WaitFor("serving on ", timeout);
  }
  void Signal(int signal);
  // Waits for exit; the exit code, or 128+signal when killed.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  // SIGTERM, then SIGKILL after `grace`.
  void Stop(absl::Duration grace);
  bool running();
  std::string log() const;
  pid_t pid() const { return pid_; }
  // Peak resident set size in KiB (VmHWM), 0 when unknown.
  uint64_t PeakRssKib() const;

 private:
  ChildProcess(pid_t pid, std::string log_path)
      : pid_(pid), log_path_(std::move(log_path)) {}
  pid_t pid_ = -1;
  std::string log_path_;
  int exit_status_ = -1;
};

// A started server: process, service address and admin address (empty
// unless it was started with --admin_listen).
struct Server {
  ChildProcess process;
  std::string address;
  std::string admin;
};

// Starts a server and waits for its serving line (and its admin endpoint
// line when `with_admin`).
absl::StatusOr<Server> StartServer(const std::vector<std::string>& argv,
                                   const std::string& log_path,
                                   absl::Duration timeout, bool with_admin);

// Total size in bytes of the files under `dir`.
uint64_t DirectoryBytes(const std::string& dir);

}  // namespace tally::bench

#endif  // TALLY_CLIENTS_BENCH_CHILD_PROCESS_H_
