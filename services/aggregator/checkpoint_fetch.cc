#include "services/aggregator/checkpoint_fetch.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "services/rpc/channel.h"
#include "tally/v1/replication.grpc.pb.h"

namespace tally::aggregator {
namespace {

absl::Status SyncPath(const std::string& path, bool directory) {
  const int fd =
      open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot open ", path));
  const int synced = fsync(fd);
  close(fd);
  if (synced != 0)
    return absl::InternalError(absl::StrCat("cannot sync ", path));
  return absl::OkStatus();
}

class FileWriter {
 public:
  ~FileWriter() { Close().IgnoreError(); }
  absl::Status Open(const std::string& path, uint64_t size) {
    if (absl::Status s = Close(); !s.ok()) return s;
    std::filesystem::create_directories(
        std::filesystem::path(path).parent_path());
    fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd_ < 0)
      return absl::InternalError(absl::StrCat("cannot create ", path));
    path_ = path;
    expected_ = size;
    written_ = 0;
    return absl::OkStatus();
  }
  absl::Status Write(const std::string& data) {
    if (fd_ < 0) {
      return absl::DataLossError("the peer sent data before naming a file");
    }
    size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = write(fd_, data.data() + done, data.size() - done);
      if (n <= 0) {
        return absl::ResourceExhaustedError(
            absl::StrCat("cannot write ", path_, ": ", strerror(errno)));
      }
      done += static_cast<size_t>(n);
    }
    written_ += data.size();
    return absl::OkStatus();
  }
  absl::Status Close() {
    if (fd_ < 0) return absl::OkStatus();
    const bool synced = fsync(fd_) == 0;
    close(fd_);
    fd_ = -1;
    if (!synced)
      return absl::InternalError(absl::StrCat("cannot sync ", path_));
    if (written_ != expected_) {
      return absl::DataLossError(absl::StrCat(path_, ": received ", written_,
                                              " bytes of ", expected_));
    }
    return absl::OkStatus();
  }

 private:
  int fd_ = -1;
  std::string path_;
  uint64_t expected_ = 0;
  uint64_t written_ = 0;
};

}  // namespace

absl::StatusOr<FetchResult> FetchPeerStore(
    const std::string& peer,
    std::shared_ptr<grpc::ChannelCredentials> credentials,
    const std::string& replica_id, const std::string& data_dir,
    absl::Duration timeout) {
  const std::string incoming = data_dir + ".incoming";
  std::error_code ec;
  std::filesystem::remove_all(incoming, ec);
  std::filesystem::create_directories(incoming, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create ", incoming, ": ", ec.message()));
  }
  auto channel = rpc::MakeChannel(peer, {.credentials = credentials});
  auto stub = v1::Replication::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  v1::FetchCheckpointRequest request;
  request.set_replica_id(replica_id);
  auto reader = stub->FetchCheckpoint(&context, request);
  FetchResult result;
  FileWriter writer;
  v1::CheckpointChunk chunk;
  absl::Status failure;
  while (failure.ok() && reader->Read(&chunk)) {
    if (!chunk.file().empty()) {
      const std::filesystem::path name(chunk.file());
      if (name.is_absolute() ||
          name.lexically_normal().string().rfind("..", 0) == 0) {
        failure = absl::DataLossError(
            absl::StrCat("the peer sent a file outside the store: ",
                         chunk.file().substr(0, 200)));
        break;
      }
      failure = writer.Open((std::filesystem::path(incoming) / name).string(),
                            chunk.file_size());
      ++result.files;
    }
    if (failure.ok()) failure = writer.Write(chunk.data());
    result.bytes += chunk.data().size();
  }
  if (!failure.ok()) context.TryCancel();
  const grpc::Status finished = reader->Finish();
  if (failure.ok()) failure = writer.Close();
  if (failure.ok() && !finished.ok()) {
    failure = absl::Status(static_cast<absl::StatusCode>(finished.error_code()),
                           absl::StrCat("copying the store of ", peer, ": ",
                                        finished.error_message()));
  }
  if (failure.ok() && result.files == 0) {
    failure = absl::DataLossError(absl::StrCat(peer, " sent an empty copy"));
  }
  if (failure.ok()) failure = SyncPath(incoming, true);
  if (!failure.ok()) {
    std::filesystem::remove_all(incoming, ec);
    return failure;
  }
  // Replace the data directory: the old store is behind the log (or
  // empty) and worth nothing once the copy is complete.
  std::filesystem::remove_all(data_dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot remove the old store ",
                                            data_dir, ": ", ec.message()));
  }
  std::filesystem::rename(incoming, data_dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot move ", incoming, " to ",
                                            data_dir, ": ", ec.message()));
  }
  const std::string parent =
      std::filesystem::absolute(data_dir).parent_path().string();
  SyncPath(parent, true).IgnoreError();
  return result;
}

}  // namespace tally::aggregator
