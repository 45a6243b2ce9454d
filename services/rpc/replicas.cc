#include "services/rpc/replicas.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace tally::rpc {

absl::StatusOr<std::vector<std::string>> ParseAddressList(
    absl::string_view list, absl::string_view flag) {
  std::vector<std::string> out;
  for (absl::string_view item : absl::StrSplit(list, ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (item.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          flag, " \"", list.substr(0, 200),
          "\" has an empty address (HOST:PORT, or a list of them separated "
          "by commas)"));
    }
    out.emplace_back(item);
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " is empty"));
  }
  return out;
}

Replicas::Replicas(std::vector<std::string> addresses, ChannelOptions options)
    : addresses_(std::move(addresses)), options_(std::move(options)) {
  absl::MutexLock lock(&mu_);
  current_ = addresses_.empty() ? "" : addresses_.front();
}

std::shared_ptr<grpc::Channel> Replicas::ChannelFor(
    const std::string& address) {
  for (const auto& [known, channel] : channels_) {
    if (known == address) return channel;
  }
  std::shared_ptr<grpc::Channel> channel = MakeChannel(address, options_);
  channels_.emplace_back(address, channel);
  return channel;
}

Replicas::Target Replicas::Current() {
  absl::MutexLock lock(&mu_);
  return Target{current_, ChannelFor(current_)};
}

std::vector<Replicas::Target> Replicas::All() {
  absl::MutexLock lock(&mu_);
  std::vector<Target> out;
  for (const std::string& address : addresses_) {
    out.push_back(Target{address, ChannelFor(address)});
  }
  return out;
}

bool Replicas::Next(const std::string& failed) {
  absl::MutexLock lock(&mu_);
  if (current_ == failed) {
    auto it = std::find(addresses_.begin(), addresses_.end(), failed);
    // A leader outside the list that failed: back to the list's first.
    current_ = it == addresses_.end() || it + 1 == addresses_.end()
                   ? addresses_.front()
                   : *(it + 1);
  }
  if (++failures_ >= addresses_.size()) {
    failures_ = 0;
    return true;
  }
  return false;
}

void Replicas::Succeeded(const std::string& address) {
  absl::MutexLock lock(&mu_);
  current_ = address;
  failures_ = 0;
}

std::string Replicas::Follow(const grpc::ClientContext& finished_call) {
  const auto& metadata = finished_call.GetServerTrailingMetadata();
  auto it = metadata.find(kLeaderMetadata);
  if (it == metadata.end() || it->second.empty()) return "";
  std::string leader(it->second.data(), it->second.size());
  absl::MutexLock lock(&mu_);
  current_ = leader;
  return leader;
}

std::string Replicas::text() const { return absl::StrJoin(addresses_, ","); }

}  // namespace tally::rpc
