#include "tests/support/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace tally::testing {

absl::StatusOr<Process> Process::Start(const std::string& binary,
                                       const std::vector<std::string>& args,
                                       const std::string& log_path) {
  std::vector<std::string> argv_storage;
  argv_storage.push_back(binary);
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const int log_fd =
      open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (log_fd < 0) return absl::InternalError("cannot open " + log_path);
  const pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    return absl::InternalError("fork failed");
  }
  if (pid == 0) {
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    const int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  close(log_fd);
  return Process(pid, log_path);
}

Process::Process(Process&& other) noexcept
    : pid_(other.pid_),
      log_path_(std::move(other.log_path_)),
      exit_status_(other.exit_status_) {
  other.pid_ = -1;
}

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0 && running()) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    pid_ = other.pid_;
    log_path_ = std::move(other.log_path_);
    exit_status_ = other.exit_status_;
    other.pid_ = -1;
  }
  return *this;
}

Process::~Process() {
  if (pid_ > 0 && running()) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

std::string Process::log() const {
  std::ifstream file(log_path_);
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

absl::StatusOr<std::string> Process::WaitServing(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    const std::string text = log();
    const size_t at = text.find("serving on ");
    if (at != std::string::npos) {
      const size_t begin = at + std::string("serving on ").size();
      const size_t end = text.find_first_of(" \n", begin);
      if (end != std::string::npos) return text.substr(begin, end - begin);
    }
    if (!running()) {
      return absl::FailedPreconditionError(
          absl::StrCat("process exited before serving:\n", text));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "not serving after ", absl::FormatDuration(timeout), ":\n", log()));
}

void Process::Signal(int signal) {
  if (pid_ > 0) kill(pid_, signal);
}

bool Process::running() {
  if (pid_ <= 0 || exit_status_ >= 0) return false;
  int status = 0;
  const pid_t done = waitpid(pid_, &status, WNOHANG);
  if (done == 0) return true;
  exit_status_ =
      WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return false;
}

absl::StatusOr<int> Process::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (running()) {
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("process ", pid_, " still running after ",
                       absl::FormatDuration(timeout)));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return exit_status_;
}

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
