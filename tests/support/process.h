// Real child processes for integration and crash tests (the shared
// clients/process library), temporary directories kept when a test fails,
// and commands run to completion. Output goes to log files kept for
// failure messages.
#ifndef TALLY_TESTS_SUPPORT_PROCESS_H_
#define TALLY_TESTS_SUPPORT_PROCESS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/process/child_process.h"

namespace tally::testing {

// The servers' child processes (clients/process): start, WaitServing,
// WaitFor a line, Signal, Wait, log.
using Process = process::ChildProcess;

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

// Stops `server` with SIGTERM and expects it to exit cleanly (code 0)
// within a minute; gtest expectations, with its log on failure.
void ExpectCleanStop(Server& server);

// A loopback TCP port that is bound but not listening, held for the
// object's lifetime: a connection to it is refused at once, and no other
// process can take the port meanwhile. For tests of what clients and
// servers say when nothing answers at an address.
class ClosedPort {
 public:
  ClosedPort();
  ~ClosedPort();
  ClosedPort(const ClosedPort&) = delete;
  ClosedPort& operator=(const ClosedPort&) = delete;

  // 0 when no port could be reserved.
  int port() const { return port_; }
  // "127.0.0.1:PORT".
  std::string address() const;

 private:
  int fd_ = -1;
  int port_ = 0;
};

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
