// A progress bar on stderr, drawn only when stderr is a terminal (never in
// logs or pipes): "[#####.....] 1234/5678 <unit>". One owner thread.
#ifndef TALLY_CLIENTS_TALLYCTL_PROGRESS_BAR_H_
#define TALLY_CLIENTS_TALLYCTL_PROGRESS_BAR_H_

#include <unistd.h>

#include <cstdio>
#include <string>
#include <utility>

namespace tally::cli {

class ProgressBar {
 public:
  ProgressBar(size_t total, std::string unit)
      : total_(total), unit_(std::move(unit)), shown_(isatty(2)) {}
  void Show(size_t done) const {
    if (!shown_ || total_ == 0) return;
    constexpr size_t kWidth = 40;
    const size_t filled = done * kWidth / total_;
    std::fprintf(
        stderr, "\r[%s%s] %zu/%zu %s", std::string(filled, '#').c_str(),
        std::string(kWidth - filled, '.').c_str(), done, total_, unit_.c_str());
    std::fflush(stderr);
  }
  void Finish() const {
    if (shown()) std::fputc('\n', stderr);
  }
  // Whether a bar is on the terminal's current line.
  bool shown() const { return shown_ && total_ > 0; }

 private:
  size_t total_;
  std::string unit_;
  bool shown_;
};

}  // namespace tally::cli

#endif  // TALLY_CLIENTS_TALLYCTL_PROGRESS_BAR_H_
