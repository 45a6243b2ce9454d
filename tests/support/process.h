// Real child processes for integration and crash tests: start a binary,
// wait for its "serving on HOST:PORT" line, signal it, reap it. Output goes
// to a log file kept for failure messages.
#ifndef TALLY_TESTS_SUPPORT_PROCESS_H_
#define TALLY_TESTS_SUPPORT_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tally::testing {

class Process {
 public:
  // Starts `binary` with `args`; stdout and stderr go to `log_path`.
  static absl::StatusOr<Process> Start(const std::string& binary,
                                       const std::vector<std::string>& args,
                                       const std::string& log_path);
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  ~Process();  // SIGKILLs a still-running child

  // Waits for a "serving on HOST:PORT" line in the log; returns HOST:PORT.
  absl::StatusOr<std::string> WaitServing(absl::Duration timeout);
  // Sends a signal.
  void Signal(int signal);
  // Waits for exit; returns the exit code, or 128+signal when killed.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  bool running();
  std::string log() const;
  pid_t pid() const { return pid_; }

 private:
  Process(pid_t pid, std::string log_path)
      : pid_(pid), log_path_(std::move(log_path)) {}
  pid_t pid_ = -1;
  std::string log_path_;
  int exit_status_ = -1;
};

// A fresh empty directory under the test temp dir.
std::string MakeTempDir(const std::string& name);

// Removes `dir` and the files next to it named `dir` + ".*" (server logs)
// unless the current test has failed: then they stay for diagnosis.
void RemoveTempDirUnlessFailed(const std::string& dir);

// A started server and the HOST:PORT it serves on.
struct Server {
  Process process;
  std::string address;
};

// Starts `binary` (output to `log_path`, which must be new for each start
// so that an older serving line is not mistaken for this one's) and waits
// for its serving line.
absl::StatusOr<Server> StartServer(const std::string& binary,
                                   const std::vector<std::string>& args,
                                   const std::string& log_path,
                                   absl::Duration timeout);

// What a finished command printed and how it ended.
struct CommandResult {
  int exit_code = -1;  // 128+signal when killed
  std::string output;  // stdout and stderr interleaved
};

// Runs `binary` with `args` to completion with its output captured; the
// child is killed and an error returned if it runs past `timeout`.
absl::StatusOr<CommandResult> RunCommand(const std::string& binary,
                                         const std::vector<std::string>& args,
                                         absl::Duration timeout);

}  // namespace tally::testing

#endif  // TALLY_TESTS_SUPPORT_PROCESS_H_
