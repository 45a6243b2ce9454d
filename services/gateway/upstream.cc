#include "services/gateway/upstream.h"

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "google/protobuf/empty.pb.h"
#include "google/protobuf/unknown_field_set.h"
#include "grpcpp/generic/generic_stub.h"
#include "services/observability/structured_log.h"
#include "services/rpc/channel.h"
#include "services/rpc/replicas.h"
#include "services/rpc/unreachable.h"

namespace tally::gateway {
namespace {

std::vector<std::string> AddressesOf(const std::string& list) {
  return rpc::ParseAddressList(list, "--upstream")
      .value_or(std::vector<std::string>{list});
}

// grpc.health.v1.HealthCheckResponse.ServingStatus
constexpr uint64_t kServing = 1;

}  // namespace

Upstream::Upstream(const std::string& aggregator_address,
                   const std::string& feed_address, absl::Duration rpc_timeout,
                   std::shared_ptr<grpc::ChannelCredentials> credentials)
    : rpc_timeout_(rpc_timeout),
      aggregators_(AddressesOf(aggregator_address),
                   {.credentials = credentials}),
      feeds_(AddressesOf(feed_address), {.credentials = credentials}) {}

Upstream::~Upstream() {
  absl::MutexLock lock(&mu_);
  // Calls end promptly once cancelled; the bound only guards against a
  // stuck one.
  if (!mu_.AwaitWithTimeout(
          absl::Condition(
              +[](size_t* live) { return *live == 0; }, &live_watches_),
          absl::Seconds(30))) {
    // A call still uses the channels: leave them to the process's end.
    obs::LogWarning("watch calls outlived the gateway",
                    {{"calls", live_watches_}});
    for (const rpc::Replicas::Target& target : feeds_.All()) {
      new std::shared_ptr<grpc::Channel>(target.channel);
    }
  }
}

void Upstream::AddWatch() {
  absl::MutexLock lock(&mu_);
  ++live_watches_;
}

void Upstream::RemoveWatch() {
  absl::MutexLock lock(&mu_);
  --live_watches_;
}

std::unique_ptr<grpc::ClientContext> Upstream::UnaryContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + rpc_timeout_));
  return context;
}

Upstream::Outcome Upstream::CallAggregator(
    const std::function<grpc::Status(v1::Aggregator::Stub& stub,
                                     grpc::ClientContext* context)>& call) {
  return CallReplicas([&call](const std::shared_ptr<grpc::Channel>& channel,
                              grpc::ClientContext* context) {
    std::unique_ptr<v1::Aggregator::Stub> stub =
        v1::Aggregator::NewStub(channel);
    return call(*stub, context);
  });
}

Upstream::Outcome Upstream::CallLog(
    const std::function<grpc::Status(v1::Log::Stub& stub,
                                     grpc::ClientContext* context)>& call) {
  return CallReplicas([&call](const std::shared_ptr<grpc::Channel>& channel,
                              grpc::ClientContext* context) {
    std::unique_ptr<v1::Log::Stub> stub = v1::Log::NewStub(channel);
    return call(*stub, context);
  });
}

Upstream::Outcome Upstream::CallReplicas(
    const std::function<
        grpc::Status(const std::shared_ptr<grpc::Channel>& channel,
                     grpc::ClientContext* context)>& call) {
  grpc::Status status;
  rpc::Replicas::Target used;
  for (size_t attempt = 0; attempt < aggregators_.size(); ++attempt) {
    used = aggregators_.Current();
    std::unique_ptr<grpc::ClientContext> context = UnaryContext();
    status = call(used.channel, context.get());
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE) break;
    if (attempt + 1 < aggregators_.size()) aggregators_.Next(used.address);
  }
  std::string error = NoteCall(Target::kAggregator, used, status);
  return Outcome{std::move(status), std::move(error)};
}

Upstream::Outcome Upstream::CheckHealth() {
  grpc::Status status;
  rpc::Replicas::Target used;
  for (size_t attempt = 0; attempt < aggregators_.size(); ++attempt) {
    used = aggregators_.Current();
    status = CheckHealthOf(used.channel);
    if (status.ok()) break;
    if (attempt + 1 < aggregators_.size()) aggregators_.Next(used.address);
  }
  std::string error = NoteCall(Target::kAggregator, used, status);
  return Outcome{std::move(status), std::move(error)};
}

grpc::Status Upstream::CheckHealthOf(
    const std::shared_ptr<grpc::Channel>& channel) {
  // The health protocol's messages are not part of the installed gRPC
  // headers: the request (service "") encodes exactly like Empty, and the
  // response's one field (status = 1, a varint) is read from the raw bytes.
  grpc::TemplatedGenericStub<google::protobuf::Empty, grpc::ByteBuffer> stub(
      channel);
  std::unique_ptr<grpc::ClientContext> context = UnaryContext();
  google::protobuf::Empty request;
  grpc::ByteBuffer response;
  grpc::Status status;
  absl::Notification done;
  stub.UnaryCall(context.get(), "/grpc.health.v1.Health/Check",
                 grpc::StubOptions(), &request, &response,
                 [&](grpc::Status call_status) {
                   status = std::move(call_status);
                   done.Notify();
                 });
  done.WaitForNotification();  // bounded by the context's deadline
  if (!status.ok()) return status;
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) {
    return grpc::Status(grpc::StatusCode::INTERNAL,
                        "unreadable health response");
  }
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  google::protobuf::UnknownFieldSet fields;
  if (!fields.ParseFromString(bytes)) {
    return grpc::Status(grpc::StatusCode::INTERNAL,
                        "unparsable health response");
  }
  uint64_t serving_status = 0;  // UNKNOWN when absent
  for (int i = 0; i < fields.field_count(); ++i) {
    const google::protobuf::UnknownField& field = fields.field(i);
    if (field.number() == 1 &&
        field.type() == google::protobuf::UnknownField::TYPE_VARINT) {
      serving_status = field.varint();
    }
  }
  if (serving_status != kServing) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        absl::StrCat("the upstream reports health status ",
                                     serving_status, " (not SERVING)"));
  }
  return grpc::Status::OK;
}

std::string Upstream::NoteCall(Target target, const rpc::Replicas::Target& used,
                               const grpc::Status& status) {
  const bool feed = target == Target::kFeed;
  rpc::Replicas& replicas = feed ? feeds_ : aggregators_;
  if (status.ok()) {
    replicas.Succeeded(used.address);
  } else if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    replicas.Next(used.address);
  }
  const std::optional<rpc::Unreachable> unreachable =
      status.ok() ? std::nullopt : rpc::Diagnose(status, used.channel.get());
  const std::string& address = used.address;
  const char* what = feed ? "feed" : "aggregator";
  bool newly_unreachable = false;
  bool back = false;
  {
    absl::MutexLock lock(&mu_);
    bool& was = feed ? feed_unreachable_ : aggregator_unreachable_;
    newly_unreachable = unreachable.has_value() && !was;
    // Only a call that got through says the upstream is back; a server's
    // own error leaves the state as it was.
    back = was && status.ok();
    if (unreachable.has_value()) was = true;
    if (status.ok()) was = false;
  }
  if (back)
    obs::LogInfo(absl::StrCat(what, " reachable again"), {{what, address}});
  if (status.ok()) return "";
  if (!unreachable.has_value()) {
    return status.error_message().empty()
               ? absl::StrCat("upstream call failed with code ",
                              static_cast<int>(status.error_code()))
               : status.error_message();
  }
  const std::string sentence = rpc::NoServerAt(what, address, *unreachable);
  if (newly_unreachable) {
    obs::LogWarning(
        absl::StrCat(
            sentence, "; ",
            rpc::UpstreamHint(*unreachable, feed ? "--feed" : "--upstream")),
        {{what, address}, {"reason", status.error_message()}});
  }
  return sentence;
}

}  // namespace tally::gateway
