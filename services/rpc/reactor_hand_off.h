// The hand-off between a gRPC callback reactor and the gRPC thread that
// runs its next reaction, described to ThreadSanitizer.
//
// A reactor starts an operation (StartRead, StartWrite, Finish, ...) on
// one thread; gRPC runs the reaction (OnReadDone, OnWriteDone, OnDone, ...)
// later on one of its own threads. gRPC orders the two through its
// completion queue, inside Debian's libgrpc, which is not built with
// ThreadSanitizer: without help, the reaction's accesses to the reactor
// look unordered with everything the starting thread did before.
//
// The rule, in every reactor of tally:
//  - HandToGrpc(this) right before each Start* or Finish call (on
//    whichever thread makes it);
//  - TakeFromGrpc(this) first thing in each reaction (On*Done, OnCancel,
//    OnDone).
// That is exactly the ordering gRPC guarantees, so it hides nothing: two
// reactions that gRPC may run at once (OnCancel and OnReadDone) are still
// checked against each other through what they touch after the hand-off.
//
// Both are no-ops unless the build uses ThreadSanitizer.
#ifndef TALLY_SERVICES_RPC_REACTOR_HAND_OFF_H_
#define TALLY_SERVICES_RPC_REACTOR_HAND_OFF_H_

#if defined(__SANITIZE_THREAD__)
#define TALLY_RPC_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TALLY_RPC_TSAN 1
#endif
#endif

#ifdef TALLY_RPC_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace tally::rpc {

// Whether this build runs under ThreadSanitizer (for tests that must leave
// out what its slowdown makes meaningless).
#ifdef TALLY_RPC_TSAN
inline constexpr bool kThreadSanitizer = true;
#else
inline constexpr bool kThreadSanitizer = false;
#endif

inline void HandToGrpc(const void* reactor) {
#ifdef TALLY_RPC_TSAN
  __tsan_release(const_cast<void*>(reactor));
#else
  (void)reactor;
#endif
}

inline void TakeFromGrpc(const void* reactor) {
#ifdef TALLY_RPC_TSAN
  __tsan_acquire(const_cast<void*>(reactor));
#else
  (void)reactor;
#endif
}

}  // namespace tally::rpc

#endif  // TALLY_SERVICES_RPC_REACTOR_HAND_OFF_H_
