// Connection settings every tally server and client share, in one place so
// that both ends of each connection agree:
//  - keepalive: a client pings an idle connection every kKeepaliveTime and
//    calls it dead after kKeepaliveTimeout without an answer, so a silently
//    broken link (a dropped route, a peer that vanished) is noticed within
//    about 30 s even when nothing is being sent. Servers ping on the same
//    schedule and accept pings as often as every kMinPingInterval, also
//    between calls; a client pinging more often than a server allows would
//    be disconnected for abuse.
//  - kMaxMessageBytes bounds every message both ways: a national snapshot
//    and a full Ingest batch fit, a runaway message does not.
//
// Constants only; no threads, no state.
#ifndef TALLY_SERVICES_RPC_KEEPALIVE_H_
#define TALLY_SERVICES_RPC_KEEPALIVE_H_

namespace tally::rpc {

inline constexpr int kKeepaliveTimeMs = 20000;
inline constexpr int kKeepaliveTimeoutMs = 10000;
inline constexpr int kMinPingIntervalMs = 10000;
inline constexpr int kMaxMessageBytes = 64 << 20;

}  // namespace tally::rpc

#endif  // TALLY_SERVICES_RPC_KEEPALIVE_H_
