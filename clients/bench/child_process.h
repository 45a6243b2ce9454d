// The benchmark driver's servers: a child process (clients/process) with
// its service and admin addresses.
#ifndef TALLY_CLIENTS_BENCH_CHILD_PROCESS_H_
#define TALLY_CLIENTS_BENCH_CHILD_PROCESS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/process/child_process.h"

namespace tally::bench {

using process::ChildProcess;

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
