// Real child processes of the servers: start a binary with its output in
// a log file, wait for a line it prints (its "serving on HOST:PORT"),
// signal it, reap it. Used by the benchmark driver and by the integration
// and crash tests, so it depends on no test framework.
#ifndef TALLY_CLIENTS_PROCESS_CHILD_PROCESS_H_
#define TALLY_CLIENTS_PROCESS_CHILD_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tally::process {

class ChildProcess {
 public:
  // Starts `argv[0]` with the rest of `argv`; stdout and stderr go to
  // `log_path` (truncated first), stdin is /dev/null.
  static absl::StatusOr<ChildProcess> Start(
      const std::vector<std::string>& argv, const std::string& log_path);
  static absl::StatusOr<ChildProcess> Start(
      const std::string& binary, const std::vector<std::string>& args,
      const std::string& log_path);
  ChildProcess() = default;
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ~ChildProcess();  // SIGKILLs a still-running child

  // Waits for a line containing `marker` followed by a token (up to a
  // space, newline, quote or slash); returns the token: for "serving on "
  // the HOST:PORT, for "admin endpoint on http://" the admin HOST:PORT.
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

}  // namespace tally::process

#endif  // TALLY_CLIENTS_PROCESS_CHILD_PROCESS_H_
