// nfqueue_impair: packet-level impairment of a link for kernels without
// the netem qdisc (CONFIG_NET_SCH_NETEM), on netfilter's NFQUEUE. The
// packets an iptables rule sends to queue --queue are each held for
// --delay_ms plus a uniform jitter in [-jitter_ms, +jitter_ms] before they
// are let through; a packet that draws a shorter hold than the one before
// it overtakes it, so the jitter also reorders (as netem's does when the
// jitter exceeds the gap between packets). --loss_percent of the packets
// are dropped. SIGUSR1 starts a blackout: every packet is dropped
// silently, including those already held, until SIGUSR2. SIGTERM or
// SIGINT lets the held packets through and ends with one summary line:
//
//   nfqueue_impair: queue 7: 1234 packets, 1170 delayed, 61 lost,
//   3 dropped in blackout, 87 reordered
//
// Run it in the network namespace of the link (ip netns exec), before the
// iptables NFQUEUE rules that feed it; without --queue-bypass on the rule
// a dead tool stops the link instead of silently removing the impairment.
// The random draws are seeded (--seed), though what they apply to depends
// on the traffic.
//
// Usage: nfqueue_impair --queue N [--delay_ms 200] [--jitter_ms 50]
//                       [--loss_percent 5] [--seed 1]
// Prints "nfqueue_impair: ready on queue N" once bound. Exit 2 on bad
// arguments, 1 when the queue cannot be bound.
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <queue>
#include <random>
#include <string>
#include <vector>

extern "C" {
#include <libnetfilter_queue/libnetfilter_queue.h>
}

namespace {

using Clock = std::chrono::steady_clock;

std::atomic<bool> stop_requested{false};
std::atomic<bool> blackout{false};

void OnSignal(int signal) {
  if (signal == SIGUSR1) {
    blackout = true;
  } else if (signal == SIGUSR2) {
    blackout = false;
  } else {
    stop_requested = true;
  }
}

struct Options {
  int queue = -1;
  int delay_ms = 200;
  int jitter_ms = 50;
  double loss_percent = 5;
  uint64_t seed = 1;
};

struct Held {
  Clock::time_point due;
  uint32_t id;
  uint64_t arrival;  // order of arrival, for the reordering count
  bool operator>(const Held& other) const {
    return due > other.due || (due == other.due && arrival > other.arrival);
  }
};

struct Impairment {
  Options options;
  nfq_q_handle* queue = nullptr;
  std::mt19937_64 random;
  std::priority_queue<Held, std::vector<Held>, std::greater<Held>> held;
  uint64_t packets = 0;
  uint64_t delayed = 0;
  uint64_t lost = 0;
  uint64_t blacked_out = 0;
  uint64_t reordered = 0;
  uint64_t last_released_arrival = 0;
  bool released_any = false;

  void Verdict(uint32_t id, uint32_t verdict) {
    nfq_set_verdict(queue, id, verdict, 0, nullptr);
  }

  void Arrive(uint32_t id) {
    ++packets;
    if (blackout) {
      ++blacked_out;
      Verdict(id, NF_DROP);
      return;
    }
    std::uniform_real_distribution<double> percent(0, 100);
    if (percent(random) < options.loss_percent) {
      ++lost;
      Verdict(id, NF_DROP);
      return;
    }
    std::uniform_int_distribution<int> jitter(-options.jitter_ms,
                                              options.jitter_ms);
    const int hold_ms = std::max(0, options.delay_ms + jitter(random));
    held.push(
        Held{Clock::now() + std::chrono::milliseconds(hold_ms), id, packets});
  }

  // Lets through (or, in a blackout, drops) every packet that is due.
  void ReleaseDue(bool all) {
    const Clock::time_point now = Clock::now();
    while (!held.empty() && (all || held.top().due <= now)) {
      const Held packet = held.top();
      held.pop();
      if (blackout && !all) {
        ++blacked_out;
        Verdict(packet.id, NF_DROP);
        continue;
      }
      if (released_any && packet.arrival < last_released_arrival) {
        ++reordered;
      }
      released_any = true;
      last_released_arrival = std::max(last_released_arrival, packet.arrival);
      ++delayed;
      Verdict(packet.id, NF_ACCEPT);
    }
  }

  int MillisToNextDue() const {
    if (held.empty()) return 100;
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        held.top().due - Clock::now());
    return static_cast<int>(std::clamp<int64_t>(wait.count(), 0, 100));
  }
};

int OnPacket(nfq_q_handle*, nfgenmsg*, nfq_data* data, void* context) {
  auto* impairment = static_cast<Impairment*>(context);
  const nfqnl_msg_packet_hdr* header = nfq_get_msg_packet_hdr(data);
  if (header == nullptr) return 0;
  impairment->Arrive(ntohl(header->packet_id));
  return 0;
}

bool ParseFlag(const std::string& arg, const char* name, std::string* value) {
  const std::string prefix = std::string("--") + name + "=";
  if (arg.rfind(prefix, 0) != 0) return false;
  *value = arg.substr(prefix.size());
  return true;
}

bool ParseOptions(int argc, char** argv, Options* options) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    // "--flag value" and "--flag=value" both work.
    if (arg.rfind("--", 0) == 0 && arg.find('=') == std::string::npos &&
        i + 1 < argc) {
      arg += std::string("=") + argv[++i];
    }
    args.push_back(arg);
  }
  for (const std::string& arg : args) {
    std::string value;
    char* end = nullptr;
    if (ParseFlag(arg, "queue", &value)) {
      options->queue = static_cast<int>(std::strtol(value.c_str(), &end, 10));
    } else if (ParseFlag(arg, "delay_ms", &value)) {
      options->delay_ms =
          static_cast<int>(std::strtol(value.c_str(), &end, 10));
    } else if (ParseFlag(arg, "jitter_ms", &value)) {
      options->jitter_ms =
          static_cast<int>(std::strtol(value.c_str(), &end, 10));
    } else if (ParseFlag(arg, "loss_percent", &value)) {
      options->loss_percent = std::strtod(value.c_str(), &end);
    } else if (ParseFlag(arg, "seed", &value)) {
      options->seed = std::strtoull(value.c_str(), &end, 10);
    } else {
      std::fprintf(stderr, "nfqueue_impair: unknown argument %s\n",
                   arg.c_str());
      return false;
    }
    if (end == nullptr || *end != '\0') {
      std::fprintf(stderr, "nfqueue_impair: bad value in %s\n", arg.c_str());
      return false;
    }
  }
  if (options->queue < 0 || options->queue > 65535 || options->delay_ms < 0 ||
      options->jitter_ms < 0 || options->jitter_ms > options->delay_ms ||
      options->loss_percent < 0 || options->loss_percent > 100) {
    std::fprintf(stderr,
                 "nfqueue_impair: need --queue 0..65535, --delay_ms >= "
                 "--jitter_ms >= 0 and --loss_percent 0..100\n");
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Impairment impairment;
  if (!ParseOptions(argc, argv, &impairment.options)) return 2;
  impairment.random.seed(impairment.options.seed);

  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  for (int signal : {SIGTERM, SIGINT, SIGUSR1, SIGUSR2}) {
    sigaction(signal, &action, nullptr);
  }

  nfq_handle* handle = nfq_open();
  if (handle == nullptr) {
    std::fprintf(stderr, "nfqueue_impair: nfq_open: %s\n",
                 std::strerror(errno));
    return 1;
  }
  nfq_unbind_pf(handle, AF_INET);  // older kernels need a fresh binding
  if (nfq_bind_pf(handle, AF_INET) < 0) {
    std::fprintf(stderr, "nfqueue_impair: nfq_bind_pf: %s\n",
                 std::strerror(errno));
    return 1;
  }
  impairment.queue =
      nfq_create_queue(handle, static_cast<uint16_t>(impairment.options.queue),
                       &OnPacket, &impairment);
  if (impairment.queue == nullptr) {
    std::fprintf(stderr, "nfqueue_impair: queue %d: %s\n",
                 impairment.options.queue, std::strerror(errno));
    nfq_close(handle);
    return 1;
  }
  // Verdicts need only the packet id: no payload is copied.
  nfq_set_mode(impairment.queue, NFQNL_COPY_META, 0);
  // Packets held for a few hundred milliseconds at full speed: room for
  // many, so the kernel does not drop beyond --loss_percent.
  nfq_set_queue_maxlen(impairment.queue, 65536);
  nfnl_rcvbufsiz(nfq_nfnlh(handle), 16 << 20);
  const int fd = nfq_fd(handle);
  const int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof(one));

  std::printf("nfqueue_impair: ready on queue %d\n", impairment.options.queue);
  std::fflush(stdout);

  std::vector<char> buffer(1 << 16);
  while (!stop_requested) {
    pollfd readable{fd, POLLIN, 0};
    const int ready = poll(&readable, 1, impairment.MillisToNextDue());
    if (ready > 0 && (readable.revents & POLLIN) != 0) {
      // Drain what is waiting without blocking.
      while (true) {
        const ssize_t got =
            recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
        if (got <= 0) break;
        nfq_handle_packet(handle, buffer.data(), static_cast<int>(got));
      }
    }
    impairment.ReleaseDue(false);
  }
  impairment.ReleaseDue(true);
  std::printf(
      "nfqueue_impair: queue %d: %llu packets, %llu delayed, %llu lost, "
      "%llu dropped in blackout, %llu reordered\n",
      impairment.options.queue,
      static_cast<unsigned long long>(impairment.packets),
      static_cast<unsigned long long>(impairment.delayed),
      static_cast<unsigned long long>(impairment.lost),
      static_cast<unsigned long long>(impairment.blacked_out),
      static_cast<unsigned long long>(impairment.reordered));
  std::fflush(stdout);
  nfq_destroy_queue(impairment.queue);
  nfq_close(handle);
  return 0;
}
