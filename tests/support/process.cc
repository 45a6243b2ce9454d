#include "tests/support/process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace tally::testing {

std::string MakeTempDir(const std::string& name) {
  static std::atomic<int> counter{0};
  const std::string path =
      absl::StrCat(::testing::TempDir(), "/tally-", getpid(), "-", name, "-",
                   counter.fetch_add(1));
  std::filesystem::remove_all(path);
  std::filesystem::create_directories(path);
  return path;
}

void RemoveTempDirUnlessFailed(const std::string& dir) {
  if (::testing::Test::HasFailure() || dir.empty()) return;
  std::error_code error;
  std::filesystem::remove_all(dir, error);
  const std::filesystem::path path(dir);
  const std::string prefix = path.filename().string() + ".";
  for (const auto& entry :
       std::filesystem::directory_iterator(path.parent_path(), error)) {
    if (entry.path().filename().string().rfind(prefix, 0) == 0) {
      std::filesystem::remove(entry.path(), error);
    }
  }
}

void ExpectCleanStop(Server& server) {
  server.process.Signal(SIGTERM);
  absl::StatusOr<int> stopped = server.process.Wait(absl::Minutes(1));
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(*stopped, 0) << server.process.log();
}

ClosedPort::ClosedPort() {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) return;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
          0 ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return;
  }
  port_ = ntohs(address.sin_port);
}

ClosedPort::~ClosedPort() {
  if (fd_ >= 0) ::close(fd_);
}

std::string ClosedPort::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

absl::StatusOr<Server> StartServer(const std::string& binary,
                                   const std::vector<std::string>& args,
                                   const std::string& log_path,
                                   absl::Duration timeout) {
  std::filesystem::remove(log_path);
  absl::StatusOr<Process> process = Process::Start(binary, args, log_path);
  if (!process.ok()) return process.status();
  absl::StatusOr<std::string> address = process->WaitServing(timeout);
  if (!address.ok()) return address.status();
  return Server{*std::move(process), *std::move(address)};
}

absl::StatusOr<CommandResult> RunCommand(const std::string& binary,
                                         const std::vector<std::string>& args,
                                         absl::Duration timeout) {
  static std::atomic<int> counter{0};
  const std::string log_path =
      absl::StrCat(::testing::TempDir(), "/tally-", getpid(), "-command-",
                   counter.fetch_add(1), ".log");
  std::filesystem::remove(log_path);
  absl::StatusOr<Process> process = Process::Start(binary, args, log_path);
  if (!process.ok()) return process.status();
  absl::StatusOr<int> code = process->Wait(timeout);
  if (!code.ok()) {
    process->Signal(SIGKILL);
    (void)process->Wait(absl::Seconds(10));
    return absl::DeadlineExceededError(
        absl::StrCat(binary, " did not finish within ",
                     absl::FormatDuration(timeout), ":\n", process->log()));
  }
  CommandResult result;
  result.exit_code = *code;
  result.output = process->log();
  std::filesystem::remove(log_path);
  return result;
}

}  // namespace tally::testing
