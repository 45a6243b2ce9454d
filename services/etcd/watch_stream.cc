#include "services/etcd/watch_stream.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace tally::etcd {

absl::StatusOr<std::unique_ptr<WatchStream>> WatchStream::Open(
    Client* client, const std::string& key, const std::string& range_end,
    int64_t start_revision) {
  std::unique_ptr<WatchStream> watch(new WatchStream());
  watch->client_ = client;
  watch->endpoint_ = client->current_endpoint();
  watch->stub_ =
      etcdserverpb::Watch::NewStub(client->channel(watch->endpoint_));
  watch->stream_ = watch->stub_->Watch(&watch->context_);
  etcdserverpb::WatchRequest request;
  etcdserverpb::WatchCreateRequest* create = request.mutable_create_request();
  create->set_key(key);
  create->set_range_end(range_end);
  create->set_start_revision(start_revision);
  create->set_fragment(true);
  if (!watch->stream_->Write(request)) {
    return watch->Fail(grpc::Status::OK, "cannot send the watch request");
  }
  etcdserverpb::WatchResponse created;
  if (!watch->stream_->Read(&created)) {
    return watch->Fail(grpc::Status::OK, "no answer to the watch request");
  }
  if (created.compact_revision() > 0) {
    watch->compact_revision_ = created.compact_revision();
    return absl::OutOfRangeError(absl::StrCat(
        "etcd watch from revision ", start_revision,
        ": history compacted up to revision ", created.compact_revision()));
  }
  if (!created.created() || created.canceled()) {
    return absl::UnavailableError(
        absl::StrCat("etcd watch at ", client->endpoint(watch->endpoint_),
                     " refused: ", created.cancel_reason()));
  }
  return watch;
}

WatchStream::~WatchStream() {
  if (stream_ != nullptr && !finished_) {
    context_.TryCancel();
    stream_->Finish().ok();
  }
}

void WatchStream::Cancel() { context_.TryCancel(); }

absl::Status WatchStream::Fail(const grpc::Status& given,
                               absl::string_view what) {
  grpc::Status status = given;
  if (!finished_ && stream_ != nullptr) {
    context_.TryCancel();
    grpc::Status finish = stream_->Finish();
    finished_ = true;
    if (status.ok()) status = finish;
  }
  if (status.ok()) {
    status = grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(what));
  }
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    client_->NextEndpoint(endpoint_);
  }
  return FromGrpc(status, "watch", client_->endpoint(endpoint_));
}

absl::StatusOr<etcdserverpb::WatchResponse> WatchStream::Next() {
  etcdserverpb::WatchResponse joined;
  while (true) {
    etcdserverpb::WatchResponse response;
    if (!stream_->Read(&response)) {
      return Fail(grpc::Status::OK, "the watch stream ended");
    }
    if (response.compact_revision() > 0) {
      compact_revision_ = response.compact_revision();
      return absl::OutOfRangeError(
          absl::StrCat("etcd watch: history compacted up to revision ",
                       response.compact_revision()));
    }
    if (response.canceled()) {
      return Fail(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                               absl::StrCat("watch cancelled by etcd: ",
                                            response.cancel_reason())),
                  "");
    }
    const bool more = response.fragment();
    if (joined.events_size() == 0 && !more) {
      if (response.events_size() == 0) continue;  // progress notification
      return response;
    }
    if (joined.events_size() == 0) *joined.mutable_header() = response.header();
    for (mvccpb::Event& event : *response.mutable_events()) {
      *joined.add_events() = std::move(event);
    }
    if (!more) return joined;
  }
}

}  // namespace tally::etcd
