#include "clients/process/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace tally::process {

absl::StatusOr<ChildProcess> ChildProcess::Start(
    const std::vector<std::string>& args, const std::string& log_path) {
  if (args.empty()) return absl::InvalidArgumentError("empty command");
  std::vector<std::string> storage = args;
  std::vector<char*> argv;
  for (std::string& arg : storage) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
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
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(log_fd);
  return ChildProcess(pid, log_path);
}

absl::StatusOr<ChildProcess> ChildProcess::Start(
    const std::string& binary, const std::vector<std::string>& args,
    const std::string& log_path) {
  std::vector<std::string> argv{binary};
  argv.insert(argv.end(), args.begin(), args.end());
  return Start(argv, log_path);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(other.pid_),
      log_path_(std::move(other.log_path_)),
      exit_status_(other.exit_status_) {
  other.pid_ = -1;
}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
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

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && running()) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

std::string ChildProcess::log() const {
  std::ifstream file(log_path_);
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

absl::StatusOr<std::string> ChildProcess::WaitFor(const std::string& marker,
                                                  absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    const std::string text = log();
    const size_t at = text.find(marker);
    if (at != std::string::npos) {
      const size_t begin = at + marker.size();
      const size_t end = text.find_first_of(" \n\"/", begin);
      if (end != std::string::npos) return text.substr(begin, end - begin);
    }
    if (!running()) {
      return absl::FailedPreconditionError(
          absl::StrCat("process exited before \"", marker, "\":\n", text));
    }
    // Short polls: start-to-serving time is one of the figures.
    absl::SleepFor(absl::Milliseconds(2));
  }
  return absl::DeadlineExceededError(absl::StrCat("no \"", marker, "\" after ",
                                                  absl::FormatDuration(timeout),
                                                  ":\n", log()));
}

void ChildProcess::Signal(int signal) {
  if (pid_ > 0 && running()) kill(pid_, signal);
}

bool ChildProcess::running() {
  if (pid_ <= 0 || exit_status_ >= 0) return false;
  int status = 0;
  const pid_t done = waitpid(pid_, &status, WNOHANG);
  if (done == 0) return true;
  exit_status_ =
      WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return false;
}

absl::StatusOr<int> ChildProcess::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (running()) {
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("process ", pid_, " still running after ",
                       absl::FormatDuration(timeout)));
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  return exit_status_;
}

void ChildProcess::Stop(absl::Duration grace) {
  if (!running()) return;
  Signal(SIGTERM);
  if (!Wait(grace).ok()) {
    Signal(SIGKILL);
    (void)Wait(absl::Seconds(30));
  }
}

uint64_t ChildProcess::PeakRssKib() const {
  std::ifstream status(absl::StrCat("/proc/", pid_, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      uint64_t kib = 0;
      std::istringstream(line.substr(6)) >> kib;
      return kib;
    }
  }
  return 0;
}

}  // namespace tally::process
