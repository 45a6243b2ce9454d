#include "services/rpc/channel.h"

#include <map>
#include <string>

namespace tally::rpc {
namespace {

int Milliseconds(absl::Duration duration) {
  return static_cast<int>(absl::ToInt64Milliseconds(duration));
}

}  // namespace

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target,
                                           const ChannelOptions& options) {
  // Collected first and set once each: gRPC reads the first of repeated
  // keys, so an extra argument must replace the default, not follow it.
  std::map<std::string, int> ints = {
      {GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveTimeMs},
      {GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs},
      {GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1},
  };
  if (options.min_reconnect_backoff > absl::ZeroDuration()) {
    const int initial = Milliseconds(options.min_reconnect_backoff);
    ints[GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS] = initial;
    ints[GRPC_ARG_MIN_RECONNECT_BACKOFF_MS] = initial;
  }
  if (options.max_reconnect_backoff > absl::ZeroDuration()) {
    ints[GRPC_ARG_MAX_RECONNECT_BACKOFF_MS] =
        Milliseconds(options.max_reconnect_backoff);
  }
  if (options.own_connection) ints[GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL] = 1;
  for (const auto& [name, value] : options.extra_int_args) ints[name] = value;

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  for (const auto& [name, value] : ints) args.SetInt(name, value);
  return grpc::CreateCustomChannel(target,
                                   options.credentials != nullptr
                                       ? options.credentials
                                       : grpc::InsecureChannelCredentials(),
                                   args);
}

}  // namespace tally::rpc
