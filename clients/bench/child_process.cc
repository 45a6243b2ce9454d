#include "clients/bench/child_process.h"

#include <filesystem>

namespace tally::bench {

absl::StatusOr<Server> StartServer(const std::vector<std::string>& argv,
                                   const std::string& log_path,
                                   absl::Duration timeout, bool with_admin) {
  absl::StatusOr<ChildProcess> process = ChildProcess::Start(argv, log_path);
  if (!process.ok()) return process.status();
  absl::StatusOr<std::string> address = process->WaitServing(timeout);
  if (!address.ok()) return address.status();
  Server server{*std::move(process), *std::move(address), ""};
  if (with_admin) {
    absl::StatusOr<std::string> admin =
        server.process.WaitFor("admin endpoint on http://", timeout);
    if (!admin.ok()) return admin.status();
    server.admin = *admin;
  }
  return server;
}

uint64_t DirectoryBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code error;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(dir, error)) {
    if (entry.is_regular_file(error)) total += entry.file_size(error);
  }
  return total;
}

}  // namespace tally::bench
