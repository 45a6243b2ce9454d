#include "services/etcd/client.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "services/rpc/channel.h"

namespace tally::etcd {
namespace {

void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

}  // namespace

void Cancellation::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  if (current_ != nullptr) current_->TryCancel();
}

bool Cancellation::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

bool Cancellation::Attach(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  if (cancelled_) return false;
  current_ = context;
  return true;
}

void Cancellation::Detach() {
  absl::MutexLock lock(&mu_);
  current_ = nullptr;
}

absl::Status FromGrpc(const grpc::Status& status, absl::string_view operation,
                      absl::string_view endpoint) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(
      static_cast<absl::StatusCode>(status.error_code()),
      absl::StrCat("etcd ", operation, " at ", endpoint, ": ",
                   status.error_message().empty() ? "(no message)"
                                                  : status.error_message()));
}

absl::StatusOr<std::vector<std::string>> ParseEndpoints(
    absl::string_view text) {
  std::vector<std::string> out;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    item = absl::StripAsciiWhitespace(item);
    // etcd's own flags take URLs; accept them too.
    absl::ConsumePrefix(&item, "http://");
    absl::ConsumePrefix(&item, "https://");
    const size_t colon = item.rfind(':');
    if (item.empty() || colon == absl::string_view::npos || colon == 0 ||
        colon + 1 == item.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "etcd endpoint \"", item.substr(0, 200),
          "\" must be HOST:PORT (endpoints are separated by commas)"));
    }
    out.emplace_back(item);
  }
  if (out.empty()) {
    return absl::InvalidArgumentError("no etcd endpoint given");
  }
  return out;
}

std::string PrefixEnd(absl::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    unsigned char last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

Client::Client(ClientOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  if (options.endpoints.empty()) {
    return absl::InvalidArgumentError("no etcd endpoint given");
  }
  std::unique_ptr<Client> client(new Client(std::move(options)));
  const ClientOptions& o = client->options_;
  for (const std::string& address : o.endpoints) {
    // etcd refuses pings more often than every 5 s (its
    // --grpc-keepalive-min-time) with GOAWAY "too_many_pings"; 6 s still
    // notices a silently dead member for the long-lived watch. etcd also
    // counts any ping on a connection without a call in progress as abuse
    // (gRPC-Go's PermitWithoutStream=false), and most members' connections
    // are idle: ping only during calls. Lease
    // renewals have deadlines of their own and do not wait for it.
    // Reconnection to a restarted member starts soon.
    Member member;
    member.address = address;
    member.channel = rpc::MakeChannel(
        address,
        {.credentials = o.credentials,
         .max_message_bytes = o.max_receive_message_bytes,
         .min_reconnect_backoff = absl::Milliseconds(100),
         .max_reconnect_backoff = absl::Seconds(1),
         .extra_int_args = {{GRPC_ARG_KEEPALIVE_TIME_MS, 6000},
                            {GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 3000},
                            {GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0},
                            {GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0}}});
    member.kv = etcdserverpb::KV::NewStub(member.channel);
    member.lease = etcdserverpb::Lease::NewStub(member.channel);
    member.maintenance = etcdserverpb::Maintenance::NewStub(member.channel);
    member.election = v3electionpb::Election::NewStub(member.channel);
    client->members_.push_back(std::move(member));
  }
  client->endpoints_text_ = absl::StrJoin(o.endpoints, ",");
  return client;
}

void Client::NextEndpoint(size_t failed) {
  size_t expected = failed;
  current_.compare_exchange_strong(expected, (failed + 1) % members_.size());
}

template <typename Call>
absl::Status Client::WithFailover(absl::string_view operation, Call call) {
  absl::Status last;
  const size_t first = current_.load();
  for (size_t attempt = 0; attempt < members_.size(); ++attempt) {
    const size_t index = (first + attempt) % members_.size();
    Member& member = members_[index];
    grpc::ClientContext context;
    SetDeadline(context, options_.request_timeout);
    const grpc::Status status = call(member, context);
    if (status.ok()) {
      if (index != first) current_.store(index);
      return absl::OkStatus();
    }
    last = FromGrpc(status, operation, member.address);
    // Only a member that could not serve the call (down, partitioned, no
    // leader) is worth skipping; any other error is the answer.
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE &&
        status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
      return last;
    }
  }
  NextEndpoint(first);
  return last;
}

absl::StatusOr<etcdserverpb::RangeResponse> Client::Range(
    const etcdserverpb::RangeRequest& request) {
  etcdserverpb::RangeResponse response;
  absl::Status status =
      WithFailover("range", [&](Member& m, grpc::ClientContext& context) {
        return m.kv->Range(&context, request, &response);
      });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<etcdserverpb::PutResponse> Client::Put(
    const etcdserverpb::PutRequest& request) {
  etcdserverpb::PutResponse response;
  absl::Status status =
      WithFailover("put", [&](Member& m, grpc::ClientContext& context) {
        return m.kv->Put(&context, request, &response);
      });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<etcdserverpb::DeleteRangeResponse> Client::DeleteRange(
    const etcdserverpb::DeleteRangeRequest& request) {
  etcdserverpb::DeleteRangeResponse response;
  absl::Status status =
      WithFailover("delete", [&](Member& m, grpc::ClientContext& context) {
        return m.kv->DeleteRange(&context, request, &response);
      });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<etcdserverpb::TxnResponse> Client::Txn(
    const etcdserverpb::TxnRequest& request) {
  etcdserverpb::TxnResponse response;
  absl::Status status =
      WithFailover("txn", [&](Member& m, grpc::ClientContext& context) {
        return m.kv->Txn(&context, request, &response);
      });
  if (!status.ok()) return status;
  return response;
}

absl::Status Client::Compact(int64_t revision, bool physical) {
  etcdserverpb::CompactionRequest request;
  request.set_revision(revision);
  request.set_physical(physical);
  etcdserverpb::CompactionResponse response;
  return WithFailover("compact", [&](Member& m, grpc::ClientContext& context) {
    return m.kv->Compact(&context, request, &response);
  });
}

absl::StatusOr<Client::Lease> Client::GrantLease(int64_t ttl_seconds) {
  etcdserverpb::LeaseGrantRequest request;
  request.set_ttl(ttl_seconds);
  etcdserverpb::LeaseGrantResponse response;
  absl::Status status =
      WithFailover("lease grant", [&](Member& m, grpc::ClientContext& context) {
        return m.lease->LeaseGrant(&context, request, &response);
      });
  if (!status.ok()) return status;
  if (!response.error().empty()) {
    return absl::UnavailableError(
        absl::StrCat("etcd lease grant: ", response.error()));
  }
  return Lease{response.id(), response.ttl()};
}

absl::Status Client::RevokeLease(int64_t id) {
  etcdserverpb::LeaseRevokeRequest request;
  request.set_id(id);
  etcdserverpb::LeaseRevokeResponse response;
  return WithFailover(
      "lease revoke", [&](Member& m, grpc::ClientContext& context) {
        return m.lease->LeaseRevoke(&context, request, &response);
      });
}

absl::StatusOr<v3electionpb::LeaderKey> Client::Campaign(
    const std::string& name, int64_t lease, const std::string& value,
    Cancellation* cancel) {
  v3electionpb::CampaignRequest request;
  request.set_name(name);
  request.set_lease(lease);
  request.set_value(value);
  // Not WithFailover: the call has no deadline (it waits to be elected),
  // and the caller retries it (the same lease gives the same key).
  const size_t index = current_.load();
  Member& member = members_[index];
  grpc::ClientContext context;
  if (cancel != nullptr && !cancel->Attach(&context)) {
    return absl::CancelledError("campaign cancelled");
  }
  v3electionpb::CampaignResponse response;
  const grpc::Status status =
      member.election->Campaign(&context, request, &response);
  if (cancel != nullptr) cancel->Detach();
  if (!status.ok()) {
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      NextEndpoint(index);
    }
    return FromGrpc(status, "campaign", member.address);
  }
  return response.leader();
}

absl::StatusOr<std::optional<mvccpb::KeyValue>> Client::Leader(
    const std::string& name) {
  v3electionpb::LeaderRequest request;
  request.set_name(name);
  v3electionpb::LeaderResponse response;
  absl::Status status =
      WithFailover("leader", [&](Member& m, grpc::ClientContext& context) {
        return m.election->Leader(&context, request, &response);
      });
  if (absl::IsNotFound(status) ||
      (!status.ok() &&
       absl::StrContains(status.message(), "election: no leader"))) {
    return std::nullopt;
  }
  if (!status.ok()) return status;
  if (!response.has_kv()) return std::nullopt;
  return response.kv();
}

absl::Status Client::Resign(const v3electionpb::LeaderKey& leader) {
  v3electionpb::ResignRequest request;
  *request.mutable_leader() = leader;
  v3electionpb::ResignResponse response;
  return WithFailover("resign", [&](Member& m, grpc::ClientContext& context) {
    return m.election->Resign(&context, request, &response);
  });
}

absl::StatusOr<etcdserverpb::StatusResponse> Client::MemberStatus(
    size_t endpoint) {
  Member& member = members_.at(endpoint);
  grpc::ClientContext context;
  SetDeadline(context, options_.request_timeout);
  etcdserverpb::StatusResponse response;
  const grpc::Status status = member.maintenance->Status(
      &context, etcdserverpb::StatusRequest(), &response);
  if (!status.ok()) return FromGrpc(status, "status", member.address);
  return response;
}

absl::Status Client::Defragment(size_t endpoint) {
  Member& member = members_.at(endpoint);
  grpc::ClientContext context;
  // Defragmentation rewrites the member's whole database file.
  SetDeadline(context, options_.request_timeout * 12);
  etcdserverpb::DefragmentResponse response;
  return FromGrpc(member.maintenance->Defragment(
                      &context, etcdserverpb::DefragmentRequest(), &response),
                  "defragment", member.address);
}

}  // namespace tally::etcd
