#include "services/aggregator/checkpoint_service.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/observability/structured_log.h"
#include "services/rpc/reactor_hand_off.h"

namespace tally::aggregator {
namespace {

constexpr size_t kChunkBytes = 1 << 20;
constexpr char kCheckpointPrefix[] = ".checkpoint-";

}  // namespace

class CheckpointService::Transfer
    : public grpc::ServerWriteReactor<v1::CheckpointChunk> {
 public:
  Transfer(std::string dir, std::string peer)
      : dir_(std::move(dir)), peer_(std::move(peer)) {}

  void Begin(absl::Status made) {
    if (!made.ok()) {
      rpc::HandToGrpc(this);
      Finish(grpc::Status(static_cast<grpc::StatusCode>(made.code()),
                          std::string(made.message())));
      return;
    }
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(dir_, ec);
         !ec && it != std::filesystem::recursive_directory_iterator();
         it.increment(ec)) {
      if (it->is_regular_file()) {
        files_.push_back(std::filesystem::relative(it->path(), dir_).string());
      }
    }
    if (ec) {
      rpc::HandToGrpc(this);
      Finish(
          grpc::Status(grpc::StatusCode::INTERNAL,
                       absl::StrCat("listing the checkpoint: ", ec.message())));
      return;
    }
    obs::LogInfo("sending a copy of the store",
                 {{"peer", peer_}, {"files", files_.size()}});
    Next();
  }

  void OnWriteDone(bool ok) override {
    rpc::TakeFromGrpc(this);
    if (!ok) {
      rpc::HandToGrpc(this);
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the peer went away"));
      return;
    }
    Next();
  }

  void OnDone() override {
    rpc::TakeFromGrpc(this);
    input_.close();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    delete this;
  }

 private:
  void Next() {
    chunk_.Clear();
    while (!input_.is_open() || input_.eof()) {
      input_.close();
      if (next_file_ == files_.size()) {
        obs::LogInfo("sent a copy of the store",
                     {{"peer", peer_}, {"bytes", sent_}});
        rpc::HandToGrpc(this);
        Finish(grpc::Status::OK);
        return;
      }
      const std::string& name = files_[next_file_++];
      const std::filesystem::path path = std::filesystem::path(dir_) / name;
      std::error_code ec;
      const uintmax_t size = std::filesystem::file_size(path, ec);
      input_.clear();
      input_.open(path, std::ios::binary);
      if (ec || !input_) {
        rpc::HandToGrpc(this);
        Finish(grpc::Status(grpc::StatusCode::INTERNAL,
                            absl::StrCat("cannot read ", path.string())));
        return;
      }
      chunk_.set_file(name);
      chunk_.set_file_size(size);
      if (size == 0) {
        input_.close();
        rpc::HandToGrpc(this);
        StartWrite(&chunk_);
        return;
      }
      break;
    }
    std::string* data = chunk_.mutable_data();
    data->resize(kChunkBytes);
    input_.read(data->data(), static_cast<std::streamsize>(data->size()));
    data->resize(static_cast<size_t>(input_.gcount()));
    sent_ += data->size();
    if (input_.peek() == std::char_traits<char>::eof()) input_.close();
    rpc::HandToGrpc(this);
    StartWrite(&chunk_);
  }

  const std::string dir_;
  const std::string peer_;
  std::vector<std::string> files_;
  size_t next_file_ = 0;
  std::ifstream input_;
  v1::CheckpointChunk chunk_;
  uint64_t sent_ = 0;
};

CheckpointService::CheckpointService(storage::AggregatorStore* store,
                                     std::string data_dir, Authorize authorize)
    : store_(store),
      data_dir_(std::move(data_dir)),
      authorize_(std::move(authorize)) {
  // Checkpoints of transfers that a crash interrupted: hard links that
  // would keep deleted tables on the disk.
  std::error_code ec;
  std::vector<std::filesystem::path> stale;
  for (const auto& entry : std::filesystem::directory_iterator(data_dir_, ec)) {
    if (entry.path().filename().string().rfind(kCheckpointPrefix, 0) == 0) {
      stale.push_back(entry.path());
    }
  }
  for (const std::filesystem::path& path : stale) {
    std::filesystem::remove_all(path, ec);
  }
}

grpc::ServerWriteReactor<v1::CheckpointChunk>*
CheckpointService::FetchCheckpoint(grpc::CallbackServerContext* context,
                                   const v1::FetchCheckpointRequest* request) {
  // Inside the data directory: the store's filesystem even when the data
  // directory is a mount point, so the copy is hard links. RocksDB ignores
  // the subdirectory.
  std::string dir = absl::StrCat(data_dir_, "/", kCheckpointPrefix, getpid(),
                                 "-", transfers_.fetch_add(1));
  auto* transfer =
      new Transfer(dir, absl::StrCat(request->replica_id().substr(0, 100), " (",
                                     context->peer(), ")"));
  absl::Status allowed = authorize_ ? authorize_(context) : absl::OkStatus();
  if (!allowed.ok()) {
    transfer->Begin(allowed);
    return transfer;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  transfer->Begin(store_->CreateCheckpoint(dir));
  return transfer;
}

}  // namespace tally::aggregator
