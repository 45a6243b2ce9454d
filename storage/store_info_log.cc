#include "storage/store_info_log.h"

#include <rocksdb/env.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tally::storage {
namespace {

class StdioLogger : public rocksdb::Logger {
 public:
  explicit StdioLogger(std::FILE* file)
      : rocksdb::Logger(rocksdb::InfoLogLevel::INFO_LEVEL), file_(file) {}
  ~StdioLogger() override { CloseFile(); }

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    if (file_ == nullptr) return;
    char line[4096];
    const auto now = std::chrono::system_clock::now();
    const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                            now.time_since_epoch())
                            .count() %
                        1000000;
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    int used = static_cast<int>(
        std::strftime(line, sizeof(line), "%Y/%m/%d-%H:%M:%S", &utc));
    used += std::snprintf(line + used, sizeof(line) - used, ".%06lld ",
                          static_cast<long long>(micros));
    va_list copy;
    va_copy(copy, ap);
    const int text =
        std::vsnprintf(line + used, sizeof(line) - used - 1, format, copy);
    va_end(copy);
    if (text < 0) return;
    used = std::min<int>(used + text, sizeof(line) - 2);
    if (line[used - 1] != '\n') line[used++] = '\n';
    std::lock_guard<std::mutex> lock(mu_);
    // A failed write (a full disk) loses this line, nothing else.
    if (std::fwrite(line, 1, used, file_) == static_cast<size_t>(used)) {
      std::fflush(file_);
    } else {
      std::clearerr(file_);
    }
  }

 protected:
  rocksdb::Status CloseImpl() override {
    CloseFile();
    return rocksdb::Status::OK();
  }

 private:
  void CloseFile() {
    std::lock_guard<std::mutex> lock(mu_);
    if (file_ != nullptr) std::fclose(file_);
    file_ = nullptr;
  }

  std::mutex mu_;
  std::FILE* file_;
};

// LOG -> LOG.old.<micros>; only the newest kKeptOldLogs old ones stay.
void RotateOldLogs(const std::filesystem::path& dir) {
  std::error_code ec;
  const std::filesystem::path log = dir / "LOG";
  if (std::filesystem::exists(log, ec)) {
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    std::filesystem::rename(log, dir / absl::StrCat("LOG.old.", micros), ec);
  }
  std::vector<std::string> old;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (absl::StartsWith(name, "LOG.old.")) old.push_back(name);
  }
  // Same-length decimal suffixes sort by time.
  std::sort(old.begin(), old.end());
  for (size_t i = 0; i + kKeptOldLogs < old.size(); ++i) {
    std::filesystem::remove(dir / old[i], ec);
  }
}

}  // namespace

std::shared_ptr<rocksdb::Logger> OpenStoreInfoLog(const std::string& data_dir) {
  std::error_code ec;
  const std::filesystem::path dir(data_dir);
  std::filesystem::create_directories(dir, ec);
  RotateOldLogs(dir);
  std::FILE* file = std::fopen((dir / "LOG").c_str(), "a");
  return std::make_shared<StdioLogger>(file);
}

}  // namespace tally::storage
