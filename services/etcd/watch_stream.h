// One etcd watch of a key range from a given revision, on the member in
// use, read synchronously. etcd delivers every change in revision order,
// provided the history was not compacted past the start revision: then
// Next() fails with OUT_OF_RANGE and the compact revision in the message
// (see compact_revision()). Large responses arrive in fragments, which
// Next() joins.
//
// Threading: one reader thread calls Next(); Cancel() (any thread) ends a
// blocked Next() with CANCELLED.
#ifndef TALLY_SERVICES_ETCD_WATCH_STREAM_H_
#define TALLY_SERVICES_ETCD_WATCH_STREAM_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "services/etcd/client.h"

namespace tally::etcd {

class WatchStream {
 public:
  // Opens the watch and waits for etcd to confirm it.
  static absl::StatusOr<std::unique_ptr<WatchStream>> Open(
      Client* client, const std::string& key, const std::string& range_end,
      int64_t start_revision);
  ~WatchStream();

  // The next batch of events (at least one), in revision order.
  absl::StatusOr<etcdserverpb::WatchResponse> Next();
  void Cancel();
  // After Next() failed with OUT_OF_RANGE: the oldest revision etcd still
  // has.
  int64_t compact_revision() const { return compact_revision_; }

 private:
  WatchStream() = default;
  absl::Status Fail(const grpc::Status& status, absl::string_view what);

  Client* client_ = nullptr;
  size_t endpoint_ = 0;
  std::unique_ptr<etcdserverpb::Watch::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::WatchRequest,
                                           etcdserverpb::WatchResponse>>
      stream_;
  int64_t compact_revision_ = 0;
  bool finished_ = false;
};

}  // namespace tally::etcd

#endif  // TALLY_SERVICES_ETCD_WATCH_STREAM_H_
