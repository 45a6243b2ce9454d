#include "services/aggregator/checkpoint_fetch.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
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

constexpr char kIncoming[] = ".peer-copy";
constexpr char kComplete[] = ".complete";

// Moves the complete copy in DATA_DIR/.peer-copy in place of the old store.
// Idempotent, so a crash at any point is finished by running it again: an
// entry of the data directory that the copy names and no longer holds was
// already moved in and stays; every other one is old and goes; then what
// the copy still holds moves in. A rename within one filesystem replaces
// nothing half-way.
absl::Status FileSystemError(absl::string_view what,
                             const std::filesystem::path& path,
                             const std::error_code& ec) {
  return absl::InternalError(
      absl::StrCat("cannot ", what, " ", path.string(), ": ", ec.message()));
}

absl::Status InstallCopy(const std::filesystem::path& data_dir) {
  const std::filesystem::path incoming = data_dir / kIncoming;
  std::ifstream list(incoming / kComplete);
  std::set<std::string> copied;
  for (std::string name; std::getline(list, name);) {
    if (!name.empty()) copied.insert(name);
  }
  if (copied.empty()) {
    return absl::DataLossError(absl::StrCat((incoming / kComplete).string(),
                                            " lists no file of the copy"));
  }
  std::error_code ec;
  std::vector<std::filesystem::path> old;
  for (const auto& entry : std::filesystem::directory_iterator(data_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name == kIncoming) continue;
    if (copied.count(name) > 0 &&
        !std::filesystem::exists(incoming / name, ec)) {
      continue;  // moved in by an earlier, interrupted run
    }
    old.push_back(entry.path());
  }
  if (ec) return FileSystemError("list", data_dir, ec);
  for (const std::filesystem::path& path : old) {
    std::filesystem::remove_all(path, ec);
    if (ec) return FileSystemError("remove the old store's", path, ec);
  }
  for (const std::string& name : copied) {
    if (!std::filesystem::exists(incoming / name, ec)) continue;
    std::filesystem::rename(incoming / name, data_dir / name, ec);
    if (ec) return FileSystemError("move into the store", incoming / name, ec);
  }
  if (absl::Status synced = SyncPath(data_dir.string(), true); !synced.ok()) {
    return synced;
  }
  std::filesystem::remove_all(incoming, ec);
  if (ec) return FileSystemError("remove", incoming, ec);
  return SyncPath(data_dir.string(), true);
}

}  // namespace

absl::StatusOr<bool> FinishPeerCopy(const std::string& data_dir) {
  const std::filesystem::path incoming =
      std::filesystem::path(data_dir) / kIncoming;
  std::error_code ec;
  if (!std::filesystem::exists(incoming, ec)) return false;
  if (std::filesystem::exists(incoming / kComplete, ec)) {
    if (absl::Status done = InstallCopy(data_dir); !done.ok()) return done;
    return true;
  }
  // An incomplete copy: the old store was never touched.
  std::filesystem::remove_all(incoming, ec);
  if (ec) return FileSystemError("remove", incoming, ec);
  return false;
}

absl::StatusOr<FetchResult> FetchPeerStore(
    const std::string& peer,
    std::shared_ptr<grpc::ChannelCredentials> credentials,
    const std::string& replica_id, const std::string& data_dir,
    absl::Duration timeout) {
  const std::string incoming =
      (std::filesystem::path(data_dir) / kIncoming).string();
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
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
          name.lexically_normal().string().rfind("..", 0) == 0 ||
          name.lexically_normal() == kComplete) {
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
  // Complete: say so durably, then replace the old store (behind the log,
  // or empty, and worth nothing once the copy is complete).
  {
    std::set<std::string> names;
    for (const auto& entry :
         std::filesystem::directory_iterator(incoming, ec)) {
      names.insert(entry.path().filename().string());
    }
    const std::string list_path =
        (std::filesystem::path(incoming) / kComplete).string();
    std::ofstream list(list_path, std::ios::trunc);
    for (const std::string& name : names) list << name << "\n";
    list.close();
    if (ec || !list) {
      std::filesystem::remove_all(incoming, ec);
      return absl::InternalError(
          absl::StrCat("cannot write ", list_path, ": ", ec.message()));
    }
    if (absl::Status synced = SyncPath(list_path, false); !synced.ok()) {
      return synced;
    }
    if (absl::Status synced = SyncPath(incoming, true); !synced.ok()) {
      return synced;
    }
  }
  if (absl::Status installed = InstallCopy(data_dir); !installed.ok()) {
    return installed;
  }
  return result;
}

}  // namespace tally::aggregator
