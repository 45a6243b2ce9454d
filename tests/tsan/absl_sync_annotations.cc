// ThreadSanitizer builds only (TALLY_TSAN): tells ThreadSanitizer what
// Abseil's Mutex, CondVar and Notification do.
//
// Debian's libabsl is not built with ThreadSanitizer, so its lock and
// unlock (atomics and futexes inside the shared library) are invisible to
// it: every access guarded by an absl::Mutex would be reported as a race.
// This file defines the public entry points of those classes in the
// executable itself, where they take precedence over the shared library's
// (ELF symbol interposition: executables of the TSan build export these
// definitions, and only these, see absl_sync.dynamic-list), calls the
// library's own through dlsym(RTLD_NEXT) and describes each to ThreadSanitizer
// with its mutex annotations
// (<sanitizer/tsan_interface.h>): reader and writer locks, try-locks,
// and waits (Await, LockWhen, CondVar::Wait) as an unlock followed by a
// lock. Calls from inside the library (Notification uses a Mutex, gRPC
// locks through absl::Mutex) go through the same entry points, so they are
// described too.
//
// Accesses made while the library runs (a waiter's Condition evaluated by
// the unlocking thread) fall between a pre_ and a post_ annotation, which
// ThreadSanitizer ignores, as it does for an instrumented mutex.
//
// Threading: every function here is called concurrently; the only state is
// the per-thread list of held locks' modes and the symbols resolved once.
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/base/options.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace {

#define TALLY_STRINGIZE_INNER(x) #x
#define TALLY_STRINGIZE(x) TALLY_STRINGIZE_INNER(x)

// The library's definition of one symbol of namespace absl::<inline ns>,
// e.g. Real("5Mutex4LockEv") for absl::Mutex::Lock.
void* Real(const char* suffix, bool is_const = false) {
  const char* inline_ns = TALLY_STRINGIZE(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const std::string name = std::string(is_const ? "_ZNK4absl" : "_ZN4absl") +
                           std::to_string(std::strlen(inline_ns)) + inline_ns +
                           suffix;
  void* symbol = dlsym(RTLD_NEXT, name.c_str());
  if (symbol == nullptr) {
    std::fprintf(stderr, "tsan absl annotations: %s not found\n", name.c_str());
    std::abort();
  }
  return symbol;
}

template <typename Fn>
Fn Resolve(std::atomic<void*>& slot, const char* suffix,
           bool is_const = false) {
  void* symbol = slot.load(std::memory_order_acquire);
  if (symbol == nullptr) {
    symbol = Real(suffix, is_const);
    slot.store(symbol, std::memory_order_release);
  }
  return reinterpret_cast<Fn>(symbol);
}

#define TALLY_REAL(type, suffix, ...)                  \
  ([]() {                                              \
    static std::atomic<void*> slot{nullptr};           \
    return Resolve<type>(slot, suffix, ##__VA_ARGS__); \
  }())

// Locks this thread holds in reader mode, so that a wait can unlock and
// relock in the mode it was taken (nesting is shallow in practice).
constexpr int kMaxHeld = 64;
thread_local std::array<const void*, kMaxHeld> reader_held;
thread_local int reader_count = 0;

void NoteReader(const void* mu) {
  if (reader_count < kMaxHeld) reader_held[reader_count++] = mu;
}
void ForgetReader(const void* mu) {
  for (int i = reader_count - 1; i >= 0; --i) {
    if (reader_held[i] == mu) {
      reader_held[i] = reader_held[--reader_count];
      return;
    }
  }
}
bool HeldAsReader(const void* mu) {
  for (int i = 0; i < reader_count; ++i) {
    if (reader_held[i] == mu) return true;
  }
  return false;
}

unsigned ModeFlags(bool reader) { return reader ? __tsan_mutex_read_lock : 0; }

// Entry points call each other inside the library (AwaitWithTimeout calls
// AwaitWithDeadline, Notification locks its Mutex): only the outermost
// call on a thread is described.
thread_local int depth = 0;

class Outermost {
 public:
  Outermost() : outermost_(depth++ == 0) {}
  ~Outermost() { --depth; }
  bool operator()() const { return outermost_; }

 private:
  const bool outermost_;
};

// A wait releases the lock and takes it again before returning.
template <typename Wait>
auto AroundWait(absl::Mutex* mu, Wait wait) {
  const Outermost outermost;
  if (!outermost()) return wait();
  const unsigned flags = ModeFlags(HeldAsReader(mu));
  __tsan_mutex_pre_unlock(mu, flags);
  auto result = wait();
  __tsan_mutex_post_unlock(mu, flags);
  __tsan_mutex_pre_lock(mu, flags);
  __tsan_mutex_post_lock(mu, flags, 0);
  return result;
}

// Acquiring in a mode, possibly after waiting for a condition.
template <typename Acquire>
auto Acquiring(absl::Mutex* mu, bool reader, Acquire acquire) {
  const Outermost outermost;
  if (!outermost()) return acquire();
  const unsigned flags = ModeFlags(reader);
  __tsan_mutex_pre_lock(mu, flags);
  auto result = acquire();
  __tsan_mutex_post_lock(mu, flags, 0);
  if (reader) NoteReader(mu);
  return result;
}

void Releasing(absl::Mutex* mu, bool reader, void (*release)(absl::Mutex*)) {
  const Outermost outermost;
  if (!outermost()) return release(mu);
  const unsigned flags = ModeFlags(reader);
  if (reader) ForgetReader(mu);
  __tsan_mutex_pre_unlock(mu, flags);
  release(mu);
  __tsan_mutex_post_unlock(mu, flags);
}

bool TryAcquiring(absl::Mutex* mu, bool reader,
                  bool (*try_lock)(absl::Mutex*)) {
  const Outermost outermost;
  if (!outermost()) return try_lock(mu);
  const unsigned flags = ModeFlags(reader) | __tsan_mutex_try_lock;
  __tsan_mutex_pre_lock(mu, flags);
  const bool locked = try_lock(mu);
  __tsan_mutex_post_lock(
      mu, locked ? flags : flags | __tsan_mutex_try_lock_failed, 0);
  if (locked && reader) NoteReader(mu);
  return locked;
}

struct Done {};  // the result of a wait that returns nothing

using Plain = void (*)(absl::Mutex*);
using Try = bool (*)(absl::Mutex*);
using WithCondition = void (*)(absl::Mutex*, const absl::Condition&);
using WithTimeout = bool (*)(absl::Mutex*, const absl::Condition&,
                             absl::Duration);
using WithDeadline = bool (*)(absl::Mutex*, const absl::Condition&, absl::Time);

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  Acquiring(this, false, [this] {
    TALLY_REAL(Plain, "5Mutex4LockEv")(this);
    return Done{};
  });
}

void Mutex::ReaderLock() {
  Acquiring(this, true, [this] {
    TALLY_REAL(Plain, "5Mutex10ReaderLockEv")(this);
    return Done{};
  });
}

void Mutex::Unlock() {
  Releasing(this, false, TALLY_REAL(Plain, "5Mutex6UnlockEv"));
}

void Mutex::ReaderUnlock() {
  Releasing(this, true, TALLY_REAL(Plain, "5Mutex12ReaderUnlockEv"));
}

bool Mutex::TryLock() {
  return TryAcquiring(this, false, TALLY_REAL(Try, "5Mutex7TryLockEv"));
}

bool Mutex::ReaderTryLock() {
  return TryAcquiring(this, true, TALLY_REAL(Try, "5Mutex13ReaderTryLockEv"));
}

void Mutex::LockWhen(const Condition& cond) {
  Acquiring(this, false, [&] {
    TALLY_REAL(WithCondition, "5Mutex8LockWhenERKNS0_9ConditionE")(this, cond);
    return Done{};
  });
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  Acquiring(this, true, [&] {
    TALLY_REAL(WithCondition, "5Mutex14ReaderLockWhenERKNS0_9ConditionE")
    (this, cond);
    return Done{};
  });
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  return Acquiring(this, false, [&] {
    return TALLY_REAL(WithTimeout,
                      "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_"
                      "8DurationE")(this, cond, timeout);
  });
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  return Acquiring(this, true, [&] {
    return TALLY_REAL(WithTimeout,
                      "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_"
                      "8DurationE")(this, cond, timeout);
  });
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  return Acquiring(this, false, [&] {
    return TALLY_REAL(WithDeadline,
                      "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_"
                      "4TimeE")(this, cond, deadline);
  });
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  return Acquiring(this, true, [&] {
    return TALLY_REAL(WithDeadline,
                      "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_"
                      "4TimeE")(this, cond, deadline);
  });
}

void Mutex::Await(const Condition& cond) {
  AroundWait(this, [&] {
    TALLY_REAL(WithCondition, "5Mutex5AwaitERKNS0_9ConditionE")(this, cond);
    return Done{};
  });
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  return AroundWait(this, [&] {
    return TALLY_REAL(WithTimeout,
                      "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_"
                      "8DurationE")(this, cond, timeout);
  });
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  return AroundWait(this, [&] {
    return TALLY_REAL(WithDeadline,
                      "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE")(
        this, cond, deadline);
  });
}

void CondVar::Wait(Mutex* mu) {
  AroundWait(mu, [&] {
    TALLY_REAL(void (*)(CondVar*, Mutex*), "7CondVar4WaitEPNS0_5MutexE")
    (this, mu);
    return Done{};
  });
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  return AroundWait(mu, [&] {
    return TALLY_REAL(bool (*)(CondVar*, Mutex*, Duration),
                      "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE")(
        this, mu, timeout);
  });
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  return AroundWait(mu, [&] {
    return TALLY_REAL(bool (*)(CondVar*, Mutex*, Time),
                      "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE")(
        this, mu, deadline);
  });
}

// Notification: Notify is a release, and a wait that saw it an acquire, on
// the address of its flag (notified_yet_, after the Mutex): HasBeenNotified()
// is inline, an acquire load of that flag compiled into (instrumented)
// callers, so it pairs with the same release.
namespace {
void* NotifiedFlag(const Notification* notification) {
  static_assert(sizeof(Notification) >= sizeof(Mutex) + sizeof(bool));
  return const_cast<char*>(reinterpret_cast<const char*>(notification)) +
         sizeof(Mutex);
}
}  // namespace

void Notification::Notify() {
  const Outermost outermost;
  if (outermost()) __tsan_release(NotifiedFlag(this));
  TALLY_REAL(void (*)(Notification*), "12Notification6NotifyEv")(this);
}

void Notification::WaitForNotification() const {
  const Outermost outermost;
  TALLY_REAL(void (*)(const Notification*),
             "12Notification19WaitForNotificationEv", true)
  (this);
  if (outermost()) __tsan_acquire(NotifiedFlag(this));
}

bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  const Outermost outermost;
  const bool notified = TALLY_REAL(
      bool (*)(const Notification*, Duration),
      "12Notification30WaitForNotificationWithTimeoutENS0_8DurationE",
      true)(this, timeout);
  if (notified && outermost()) __tsan_acquire(NotifiedFlag(this));
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(Time deadline) const {
  const Outermost outermost;
  const bool notified =
      TALLY_REAL(bool (*)(const Notification*, Time),
                 "12Notification31WaitForNotificationWithDeadlineENS0_4TimeE",
                 true)(this, deadline);
  if (notified && outermost()) __tsan_acquire(NotifiedFlag(this));
  return notified;
}

ABSL_NAMESPACE_END
}  // namespace absl
