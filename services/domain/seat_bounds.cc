// Guaranteed seat ranges while ballots are outstanding.
//
// Model. The current input has votes v_i per choice, against-all A and
// invalid I. Up to O = `outstanding` more ballots arrive, each as a vote for
// any choice, against all or invalid (against all is allowed even when the
// contest has no such line: a superset of the real outcomes keeps every
// bound sound). A range [min, max] for choice p is sound when p's seats in
// every such outcome lie within it. B is the current threshold base, L the
// current sum of choice votes, S the seats. Every bound below is sound;
// "exact" means it is also attained by some outcome.
//
// O == 0: the current allocation, exactly. When the largest outcome would
// exceed the allocation library's 2^40 vote limit the trivial range
// [0, S] is returned (sound, uninformative).
//
// Threshold facts used throughout (a list passes when v * den >= num * base):
//  (T1) p passes in some outcome iff it passes when all O go to p: that
//       outcome maximises p's votes, and adds to the base no more than to p.
//  (T2) p fails in some outcome iff it fails when p gets nothing and all O
//       go into the base elsewhere (another choice, or against all/invalid
//       when the base counts them). Then min = 0 ("pushable").
//
// Plurality and absolute majority (exact). Max: p wins some outcome iff it
// wins when all O go to p (that maximises p and minimises every rival,
// against all and the base relative to p's gain). Min: p loses some
// outcome iff it loses when all O go to one rival with the most votes
// (concentration is the strongest attack on p: a single rival overtaking
// suffices, and tie order only depends on votes then the tie rule), or all
// to against all (plurality: against all prevails; majority: base grows), or
// all to invalid (majority base). Each case is one Allocate call.
//
// Divisor methods (D'Hondt, Sainte-Lague, modified Sainte-Lague).
//  Max (exact): all O to p. Versus any outcome, p has more votes, every
//  rival fewer, the base is no smaller (so no rival passes that failed, and
//  p passes if it passed anywhere, T1), and p's tie order against each rival
//  can only improve; p's seats are the number of its quotients among the S
//  best, which can only grow.
//  Min (sound, nearly exact): 0 if p is pushable (T2) or has no votes. Else
//  p passes in every outcome, and giving p votes never hurts p, so p keeps
//  votes v_p. p gets fewer than k seats iff at least S - k + 1 quotients of
//  other lists beat p's k-th quotient q = v_p / d(k-1). We solve a relaxed
//  problem in which the adversary is stronger than in reality:
//   - a rival quotient equal to q always beats it (real ties may go to p);
//   - a rival j passes once (v_j + x_j) * den >= num * (B + x_j), i.e. the
//     base grows only by j's own extra votes (the real base is larger);
//   - rival costs are real-valued: c quotients of j beating q need votes
//     q * d(c-1), without rounding up to whole votes.
//  The cheapest way to buy S - k + 1 beating quotients within O votes is
//  then: choose which lists below the threshold to lift to it (enumerated
//  exactly for the 8 cheapest to lift; the rest are treated as already
//  passing, which only helps the adversary), then buy quotients greedily;
//  each list's cost is convex in its number of quotients (divisor
//  increments are non-decreasing), so taking the cheapest marginal
//  quotients is optimal. Costs are integers scaled by 5 * d(k-1). If even
//  this adversary cannot afford it, p surely keeps k seats. Feasibility is
//  monotone in k, so k is found by binary search. The relaxation loses at
//  most about one vote per rival list plus exact ties.
//
// Largest remainder (Hare, Droop): quota arithmetic (sound; at most about
// one seat loose). Each passing list gets floor(q) seats, q = votes / quota
// (Hare quota V/S, V = votes of the passing lists; Droop quota
// Q = floor(V/(S+1)) + 1), then leftover seats by largest remainder. Over
// all outcomes, q_i lies between
//   Low(i)  = v_i S / (L + O)             (Hare: V <= L + O), or
//             v_i / (floor((L+O)/(S+1)) + 1)               (Droop);
//   High(i) = (v_i + O) S / (v_i + O + K_i)                (Hare), or
//             (v_i + O)(S+1) / (v_i + O + K_i)  (Droop, strict: Q > V/(S+1)),
// where K_i is the votes of the other lists that pass in every outcome (they
// pass with base B + O), as v S / (v + K) grows with v.
// Remainder seat k = floor(q_p) + 1 goes to p iff fewer lists precede p in
// the remainder order than there are leftover seats. With d = k - q_p in
// (0, 1): sum over rivals of floor(q_j + d) = sum floor(q_j) + #{r_j >= r_p},
// so p surely gets seat k when that sum is <= S - k (ties counted against
// p); and sum of (ceil(q_j + d) - 1) = sum floor(q_j) + #{r_j > r_p} must be
// <= S - k for p to get it. Both sums only grow with each rival's quotient
// and shrink with p's, so extreme quotients give sound tests:
//  Min: 0 if pushable (T2) or no votes. Else floor(Low(p)), plus one when
//  the first sum with every rival that can pass at High and p at Low is
//  <= S - k. (When Droop repeats remainder rounds p gets even more.)
//  Max: 0 if p can never pass (T1). Else k = ceil(High(p)) (Hare with a
//  whole High: that value, reached by the floor alone). Seat k can only be
//  a remainder seat, so max is k when the second sum with the surely
//  passing rivals at Low and p at High is <= S - k, else k - 1. Droop: only
//  when every outcome has V >= v_p + K_p >= S^2, which keeps the leftover
//  below the number of lists (one remainder round at most); otherwise S.
//
// List methods, all: every allocated outcome hands out exactly S seats, so
// max_p <= S - sum of the others' min, and, when p surely passes with
// votes (so an allocation always happens), min_p >= S - sum of the others'
// max. These are applied until nothing changes. Finally each range is
// widened, if ever needed, to contain the current seats.
#include "services/domain/seat_bounds.h"

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "services/domain/seat_allocation_internal.h"

namespace tally::seats {
namespace {

using u128 = unsigned __int128;

// Lists below the threshold whose lifting is enumerated exactly (2^8
// subsets); cheaper-to-lift lists first.
constexpr size_t kMaxEnumerated = 8;

bool IsSingleWinner(Method method) {
  return method == Method::kPlurality || method == Method::kAbsoluteMajority;
}

bool IsDivisor(Method method) {
  return method == Method::kDHondt || method == Method::kSainteLague ||
         method == Method::kModifiedSainteLague;
}

// Everything the bounds of one input share.
struct Frame {
  explicit Frame(const Input& in) : input(in) {}
  const Input& input;
  uint64_t outstanding = 0;
  size_t n = 0;
  uint64_t seats = 0;
  uint64_t list_votes = 0;      // L
  uint64_t base = 0;            // B, the current threshold base
  std::vector<uint32_t> now;    // current seats
  std::vector<bool> pushable;   // T2
  std::vector<bool> reachable;  // T1: passes with all O
};

bool Passes(const Rational& threshold, uint64_t votes, uint64_t base) {
  return static_cast<u128>(votes) * threshold.den >=
         static_cast<u128>(threshold.num) * base;
}

uint64_t ThresholdBase(const Input& input, uint64_t list_votes) {
  switch (input.threshold_base) {
    case VoteBase::kValidVotes:
      return list_votes + input.against_all;
    case VoteBase::kBallotsCast:
      return list_votes + input.against_all + input.invalid;
    case VoteBase::kListVotes:
      break;
  }
  return list_votes;
}

// Seats of every choice in a scenario; inputs here are always valid (the
// vote total was checked against the limit up front).
std::vector<uint32_t> SeatsOf(const Input& scenario) {
  absl::StatusOr<Result> result = Allocate(scenario);
  std::vector<uint32_t> seats(scenario.choices.size(), 0);
  if (!result.ok()) return seats;
  for (size_t i = 0; i < seats.size(); ++i) seats[i] = result->choices[i].seats;
  return seats;
}

// The current input with every outstanding ballot given to one place:
// choice `to` (< n), against all (n) or invalid (n + 1).
Input AllTo(const Frame& frame, size_t to) {
  Input scenario = frame.input;
  scenario.compute_margin = false;
  if (to < frame.n) {
    scenario.choices[to].votes += frame.outstanding;
  } else if (to == frame.n) {
    scenario.against_all += frame.outstanding;
  } else {
    scenario.invalid += frame.outstanding;
  }
  return scenario;
}

// --- Single winner ---------------------------------------------------------

void SingleWinnerBounds(const Frame& frame, std::vector<SeatRange>* ranges) {
  const size_t n = frame.n;
  for (size_t p = 0; p < n; ++p) {
    SeatRange& range = (*ranges)[p];
    range.max = SeatsOf(AllTo(frame, p))[p];
    range.min = frame.now[p];
    if (range.min == 0) continue;
    // Attacks: all to against all, to invalid, or to a rival with the most
    // votes (any other rival is dominated by those).
    uint64_t best = 0;
    for (size_t j = 0; j < n; ++j) {
      if (j != p) best = std::max(best, frame.input.choices[j].votes);
    }
    std::vector<size_t> attacks = {n, n + 1};
    for (size_t j = 0; j < n; ++j) {
      if (j != p && frame.input.choices[j].votes == best) attacks.push_back(j);
    }
    for (size_t to : attacks) {
      if (SeatsOf(AllTo(frame, to))[p] == 0) {
        range.min = 0;
        break;
      }
    }
  }
}

// --- Divisor methods -------------------------------------------------------

// 5 * d(s), the divisor for a list already holding s seats.
uint64_t Divisor5(Method method, uint64_t held) {
  if (method == Method::kDHondt) return 5 * (held + 1);
  if (method == Method::kModifiedSainteLague && held == 0) return 7;
  return 5 * (2 * held + 1);
}

// The largest step between consecutive divisors (times 5): every marginal
// quotient past a list's first two costs exactly this times v_p.
uint64_t RegularStep5(Method method) {
  return method == Method::kDHondt ? 5 : 10;
}

// A rival as the relaxed adversary sees it.
struct Rival {
  uint64_t votes = 0;  // votes it starts from (after lifting, if lifted)
  uint64_t lift = 0;   // extra votes to reach the threshold (0: passing)
};

struct DivisorProblem {
  Method method;
  uint64_t seats;
  uint64_t votes_p;
  uint64_t budget;
  std::vector<Rival> passing;   // pass already (or treated so)
  std::vector<Rival> liftable;  // enumerated, cheapest first
};

// Quotients of a list with `votes` that tie or beat p's k-th quotient
// (scaled: votes * m >= v_p * d5(s)), counting at most `cap`.
uint64_t FreeQuotients(const DivisorProblem& problem, uint64_t votes, u128 m,
                       uint64_t cap) {
  uint64_t lo = 0, hi = cap;  // answer in [lo, hi]
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo + 1) / 2;  // does seat index mid-1 fit?
    const u128 need =
        static_cast<u128>(problem.votes_p) * Divisor5(problem.method, mid - 1);
    if (need <= static_cast<u128>(votes) * m) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

// Whether the relaxed adversary can buy `needed` beating quotients from
// `lists` within `budget` votes, against p's quotient with scaled divisor m.
bool CanBuy(const DivisorProblem& problem, const std::vector<uint64_t>& lists,
            uint64_t needed, uint64_t budget, u128 m) {
  uint64_t free = 0;
  std::vector<u128> marginals;
  for (uint64_t votes : lists) {
    const uint64_t held = FreeQuotients(problem, votes, m, needed);
    free += held;
    if (free >= needed) return true;
    const u128 next =
        static_cast<u128>(problem.votes_p) * Divisor5(problem.method, held);
    marginals.push_back(next - static_cast<u128>(votes) * m);
    const uint64_t step =
        Divisor5(problem.method, held + 1) - Divisor5(problem.method, held);
    if (step < RegularStep5(problem.method)) {
      marginals.push_back(static_cast<u128>(problem.votes_p) * step);
    }
  }
  if (lists.empty()) return false;
  const u128 limit = static_cast<u128>(budget) * m;
  uint64_t missing = needed - free;
  std::sort(marginals.begin(), marginals.end());
  u128 cost = 0;
  for (u128 marginal : marginals) {
    if (missing == 0) break;
    cost += marginal;
    --missing;
    if (cost > limit) return false;
  }
  const u128 regular =
      static_cast<u128>(problem.votes_p) * RegularStep5(problem.method);
  // missing <= seats < 2^32 and regular < 2^48: no overflow.
  cost += regular * missing;
  return cost <= limit;
}

// Whether the relaxed adversary can hold p below k seats.
bool CanHoldBelow(const DivisorProblem& problem, uint64_t k) {
  const u128 m = Divisor5(problem.method, k - 1);
  const uint64_t needed = problem.seats - k + 1;
  const size_t subsets = size_t{1} << problem.liftable.size();
  std::vector<uint64_t> lists;
  for (size_t mask = 0; mask < subsets; ++mask) {
    uint64_t lifting = 0;
    lists.clear();
    for (const Rival& rival : problem.passing) lists.push_back(rival.votes);
    for (size_t i = 0; i < problem.liftable.size(); ++i) {
      if ((mask >> i & 1) == 0) continue;
      lifting += problem.liftable[i].lift;
      lists.push_back(problem.liftable[i].votes);
    }
    if (lifting > problem.budget) continue;
    if (CanBuy(problem, lists, needed, problem.budget - lifting, m)) {
      return true;
    }
  }
  return false;
}

uint32_t DivisorMin(const Frame& frame, size_t p) {
  const Input& input = frame.input;
  const uint64_t votes_p = input.choices[p].votes;
  if (votes_p == 0 || frame.pushable[p] || frame.now[p] == 0) return 0;
  DivisorProblem problem{input.method,      frame.seats, votes_p,
                         frame.outstanding, {},          {}};
  std::vector<Rival> below;
  const Rational& t = input.threshold;
  for (size_t j = 0; j < frame.n; ++j) {
    if (j == p) continue;
    const uint64_t v = input.choices[j].votes;
    if (Passes(t, v, frame.base)) {
      problem.passing.push_back({v, 0});
      continue;
    }
    // Smallest w with w * (den - num) >= num * (B - v_j): the base grows
    // by j's own extra votes only (a relaxation in the adversary's favour).
    if (t.den == t.num) continue;  // needs the whole base: never (p has votes)
    const u128 need = static_cast<u128>(t.num) * (frame.base - v);
    const u128 gap = t.den - t.num;
    const u128 w = (need + gap - 1) / gap;
    if (w - v > frame.outstanding) continue;
    below.push_back({static_cast<uint64_t>(w), static_cast<uint64_t>(w) - v});
  }
  std::sort(below.begin(), below.end(),
            [](const Rival& a, const Rival& b) { return a.lift < b.lift; });
  for (size_t i = 0; i < below.size(); ++i) {
    if (i < kMaxEnumerated) {
      problem.liftable.push_back(below[i]);
    } else {
      // Treated as passing at its current votes: cheaper than reality.
      problem.passing.push_back({below[i].votes - below[i].lift, 0});
    }
  }
  // Largest k in [0, now] that the adversary cannot prevent.
  uint64_t lo = 0, hi = frame.now[p];
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo + 1) / 2;
    if (CanHoldBelow(problem, mid)) {
      hi = mid - 1;
    } else {
      lo = mid;
    }
  }
  return static_cast<uint32_t>(lo);
}

void DivisorBounds(const Frame& frame, std::vector<SeatRange>* ranges) {
  for (size_t p = 0; p < frame.n; ++p) {
    (*ranges)[p].max = SeatsOf(AllTo(frame, p))[p];
    (*ranges)[p].min = DivisorMin(frame, p);
  }
}

// --- Largest remainder -----------------------------------------------------

// An exact non-negative fraction with 128-bit terms (den > 0).
struct Frac {
  u128 num = 0;
  u128 den = 1;
};

bool IsWhole(const Frac& f) { return f.num % f.den == 0; }
u128 Floor(const Frac& f) { return f.num / f.den; }
u128 Ceil(const Frac& f) { return (f.num + f.den - 1) / f.den; }

// x + k - y for y <= k. Terms stay below 2^116 for votes < 2^41 and seats
// < 2^32.
Frac Shifted(const Frac& x, u128 k, const Frac& y) {
  return {x.num * y.den + (k * y.den - y.num) * x.den, x.den * y.den};
}

// Bounds on quotients (votes / quota) over every outcome; see the top of
// the file.
class QuotientRange {
 public:
  explicit QuotientRange(const Frame& frame)
      : frame_(frame), always_(frame.n, false) {
    const uint64_t max_base = frame.base + frame.outstanding;
    for (size_t j = 0; j < frame.n; ++j) {
      const uint64_t v = frame.input.choices[j].votes;
      always_[j] = Passes(frame.input.threshold, v, max_base);
      if (always_[j]) always_votes_ += v;
    }
    max_list_ = static_cast<u128>(frame.list_votes) + frame.outstanding;
    max_quota_ = max_list_ / (frame.seats + 1) + 1;
  }

  bool hare() const { return frame_.input.method == Method::kHare; }
  bool always(size_t i) const { return always_[i]; }
  // Votes of the lists other than i that pass in every outcome.
  u128 Others(size_t i) const {
    return always_votes_ - (always_[i] ? frame_.input.choices[i].votes : 0);
  }

  // No outcome gives i a smaller quotient: its own votes over the largest
  // total (Hare) or the largest quota (Droop).
  Frac Low(size_t i) const {
    const u128 v = frame_.input.choices[i].votes;
    if (hare()) return {v * frame_.seats, max_list_};
    return {v, max_quota_};
  }

  // No outcome gives i a larger quotient (Droop: strictly smaller): all O
  // to i, over the smallest total it can then be part of.
  Frac High(size_t i) const {
    const u128 best =
        static_cast<u128>(frame_.input.choices[i].votes) + frame_.outstanding;
    const u128 seats = hare() ? frame_.seats : frame_.seats + 1;
    return {best * seats, best + Others(i)};
  }

 private:
  const Frame& frame_;
  std::vector<bool> always_;
  u128 always_votes_ = 0;
  u128 max_list_ = 0;
  u128 max_quota_ = 1;
};

uint32_t LargestRemainderMin(const Frame& frame, const QuotientRange& q,
                             size_t p) {
  if (frame.input.choices[p].votes == 0 || frame.pushable[p]) return 0;
  const Frac low = q.Low(p);
  const u128 floor = Floor(low);
  if (IsWhole(low) || floor + 1 > frame.seats) {
    return static_cast<uint32_t>(floor);
  }
  // One more seat is certain when, at p's worst remainder, even every
  // rival at its best cannot claim S - k seats or more ahead of it.
  const u128 k = floor + 1;
  u128 claimed = 0;
  for (size_t j = 0; j < frame.n; ++j) {
    if (j == p || !frame.reachable[j]) continue;
    claimed += Floor(Shifted(q.High(j), k, low));
  }
  return static_cast<uint32_t>(claimed + k <= frame.seats ? k : floor);
}

uint32_t LargestRemainderMax(const Frame& frame, const QuotientRange& q,
                             size_t p) {
  if (!frame.reachable[p]) return 0;
  const u128 seats = frame.seats;
  if (!q.hare() &&
      static_cast<u128>(frame.input.choices[p].votes) + q.Others(p) <
          seats * seats) {
    return frame.seats;  // remainder rounds possible: no quota bound
  }
  const Frac high = q.High(p);
  if (q.hare() && IsWhole(high)) {
    return static_cast<uint32_t>(std::min(seats, Floor(high)));
  }
  // Seat k = ceil(high) can only be a remainder seat: it needs fewer
  // claims ahead of p than the leftover, even with every rival that surely
  // passes at its worst and p at its best.
  const u128 k = Ceil(high);
  if (k > seats) return frame.seats;
  u128 ahead = 0;
  for (size_t j = 0; j < frame.n; ++j) {
    if (j == p || !q.always(j)) continue;
    const u128 ceil = Ceil(Shifted(q.Low(j), k, high));
    ahead += ceil > 0 ? ceil - 1 : 0;
  }
  return static_cast<uint32_t>(ahead + k <= seats ? k : k - 1);
}

void LargestRemainderBounds(const Frame& frame,
                            std::vector<SeatRange>* ranges) {
  const QuotientRange q(frame);
  for (size_t p = 0; p < frame.n; ++p) {
    (*ranges)[p].min = LargestRemainderMin(frame, q, p);
    (*ranges)[p].max = LargestRemainderMax(frame, q, p);
  }
}

// --- Shared ----------------------------------------------------------------

// Seats add up to S in every allocated outcome: each choice's range is
// narrowed by the others' until nothing changes.
void TightenBySum(const Frame& frame, std::vector<SeatRange>* ranges) {
  std::vector<bool> always_allocated(frame.n);
  for (size_t p = 0; p < frame.n; ++p) {
    always_allocated[p] =
        frame.input.choices[p].votes > 0 && !frame.pushable[p];
  }
  const int64_t seats = static_cast<int64_t>(frame.seats);
  for (size_t round = 0; round < 4 * frame.n + 4; ++round) {
    int64_t sum_min = 0, sum_max = 0;
    for (const SeatRange& r : *ranges) {
      sum_min += r.min;
      sum_max += r.max;
    }
    bool changed = false;
    for (size_t p = 0; p < frame.n; ++p) {
      SeatRange& r = (*ranges)[p];
      const int64_t cap = std::max<int64_t>(0, seats - (sum_min - r.min));
      if (cap < r.max) {
        r.max = static_cast<uint32_t>(cap);
        changed = true;
      }
      if (always_allocated[p]) {
        const int64_t floor = seats - (sum_max - r.max);
        if (floor > r.min) {
          r.min = static_cast<uint32_t>(floor);
          changed = true;
        }
      }
    }
    if (!changed) break;
  }
}

}  // namespace

absl::StatusOr<std::vector<SeatRange>> SeatBounds(const Input& current,
                                                  uint64_t outstanding) {
  Input quiet = current;
  quiet.compute_margin = false;
  absl::StatusOr<Result> now = Allocate(quiet);
  if (!now.ok()) return now.status();

  Frame frame(current);
  frame.outstanding = outstanding;
  frame.n = current.choices.size();
  frame.seats = current.seats;
  std::vector<SeatRange> ranges(frame.n);
  frame.now.resize(frame.n);
  for (size_t i = 0; i < frame.n; ++i) {
    frame.now[i] = now->choices[i].seats;
    ranges[i] = {frame.now[i], frame.now[i]};
  }
  if (outstanding == 0) return ranges;

  uint64_t total = current.against_all + current.invalid;
  for (const ChoiceVotes& choice : current.choices) {
    frame.list_votes += choice.votes;
  }
  total += frame.list_votes;  // <= 2^40, checked by Allocate
  if (outstanding > internal::kMaxVotes - total) {
    for (SeatRange& range : ranges) range = {0, current.seats};
    return ranges;
  }

  frame.base = ThresholdBase(current, frame.list_votes);
  const bool base_grows_elsewhere =
      current.threshold_base != VoteBase::kListVotes || frame.n >= 2;
  const uint64_t attacked_base =
      frame.base + (base_grows_elsewhere ? outstanding : 0);
  frame.pushable.resize(frame.n);
  frame.reachable.resize(frame.n);
  for (size_t p = 0; p < frame.n; ++p) {
    const uint64_t v = current.choices[p].votes;
    frame.pushable[p] = !Passes(current.threshold, v, attacked_base);
    frame.reachable[p] =
        Passes(current.threshold, v + outstanding, frame.base + outstanding);
  }

  if (IsSingleWinner(current.method)) {
    SingleWinnerBounds(frame, &ranges);
  } else {
    if (IsDivisor(current.method)) {
      DivisorBounds(frame, &ranges);
    } else {
      LargestRemainderBounds(frame, &ranges);
    }
    TightenBySum(frame, &ranges);
  }
  // Belt and braces: the current outcome is always possible.
  for (size_t i = 0; i < frame.n; ++i) {
    ranges[i].min = std::min(ranges[i].min, frame.now[i]);
    ranges[i].max = std::max(ranges[i].max, frame.now[i]);
  }
  return ranges;
}

}  // namespace tally::seats
