// Highest averages (D'Hondt, Sainte-Lague, modified Sainte-Lague): seats go
// one at a time to the best quotient v / d(s). A binary heap holds one entry
// per passing choice, so S seats cost O(S log P). Most seats are skipped by a
// jump start (see JumpStart) that is exact, so only the last few seats, at
// most 2P, go through the heap. The rules are documented at the top of
// seat_allocation.cc.
#include <algorithm>
#include <vector>

#include "services/domain/seat_allocation_internal.h"

namespace tally::seats::internal {
namespace {

// v / d(s), where s is the number of seats already held. Modified
// Sainte-Lague's first divisor 1.4 is 7/5, so its first quotient is 5v/7.
Rational Quotient(Method method, uint64_t votes, uint64_t held) {
  switch (method) {
    case Method::kDHondt:
      return Rational{votes, held + 1};
    case Method::kModifiedSainteLague:
      if (held == 0) return Rational{votes * 5, 7};
      return Rational{votes, 2 * held + 1};
    default:  // Sainte-Lague
      return Rational{votes, 2 * held + 1};
  }
}

struct Entry {
  Rational quotient;
  uint32_t rank;  // tie order: lower wins
  size_t index;
};

// Heap order: the greatest element is the next seat's winner.
bool Before(const Entry& a, const Entry& b) {
  if (a.quotient != b.quotient) return a.quotient < b.quotient;
  return a.rank > b.rank;
}

Entry PopTop(std::vector<Entry>& heap) {
  std::pop_heap(heap.begin(), heap.end(), Before);
  const Entry top = heap.back();
  heap.pop_back();
  return top;
}

// Number of seats choice `votes` holds after all quotients strictly above
// `cut` were awarded: its quotients decrease with s, so binary search.
uint64_t QuotientsAbove(Method method, uint64_t votes, const Rational& cut,
                        uint64_t limit) {
  uint64_t lo = 0;  // Quotient(lo - 1) > cut holds for every s < lo
  uint64_t hi = limit;
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo) / 2;
    if (Quotient(method, votes, mid) > cut) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// Seats awarded before the sequential loop. Every quotient strictly above a
// cut V/D is among the best S whenever there are at most S of them (else the
// S best would all beat the cut, S+1 of them), and the sequential order
// awards them all before any quotient at or below the cut. So granting them
// at once changes nothing, not even the order of the remaining seats. The
// cut is chosen so that fewer than S quotients lie above it and at most 2P
// seats remain: D = S for D'Hondt (n_i < v S / V), D = 2S - P for the
// Sainte-Lague family (n_i < (v D / V + 1) / 2). If the count ever reached
// S, the start is dropped so the heap still awards the last seat itself.
std::vector<uint32_t> JumpStart(const Prepared& prepared) {
  const Input& input = prepared.input;
  std::vector<uint32_t> start(input.choices.size(), 0);
  const uint64_t seats = input.seats;
  const uint64_t passing = static_cast<uint64_t>(
      std::count(prepared.passed.begin(), prepared.passed.end(), true));
  uint64_t divisor = seats;
  if (input.method != Method::kDHondt) {
    if (2 * seats <= passing) return start;
    divisor = 2 * seats - passing;
  }
  const Rational cut{prepared.passing_votes, divisor};
  uint64_t total = 0;
  for (size_t i = 0; i < input.choices.size(); ++i) {
    if (!prepared.passed[i]) continue;
    start[i] = static_cast<uint32_t>(
        QuotientsAbove(input.method, prepared.votes[i], cut, seats));
    total += start[i];
  }
  if (total >= seats) std::fill(start.begin(), start.end(), 0);
  return start;
}

}  // namespace

void AllocateHighestAverages(const Prepared& prepared, Outcome* outcome) {
  const Input& input = prepared.input;
  Result& result = outcome->result;
  const std::vector<uint32_t> start = JumpStart(prepared);
  uint32_t awarded = 0;
  std::vector<Entry> heap;
  for (size_t i = 0; i < input.choices.size(); ++i) {
    if (!prepared.passed[i]) continue;
    result.choices[i].seats = start[i];
    awarded += start[i];
    heap.push_back(Entry{Quotient(input.method, prepared.votes[i], start[i]),
                         prepared.ties.Rank(i), i});
  }
  std::make_heap(heap.begin(), heap.end(), Before);

  // Holders of the trailing seats that share the last seat's quotient: the
  // winners of a tie that the house size may have split. The jump start
  // leaves at least one seat, and its quotients all beat the heap's, so the
  // run never reaches back into it.
  std::vector<size_t> run;
  Rational last{0, 1};
  for (uint32_t seat = awarded + 1; seat <= input.seats; ++seat) {
    const Entry top = PopTop(heap);
    if (seat == awarded + 1 || top.quotient != last) run.clear();
    run.push_back(top.index);
    last = top.quotient;
    const uint32_t held = ++result.choices[top.index].seats;
    heap.push_back(
        Entry{Quotient(input.method, prepared.votes[top.index], held), top.rank,
              top.index});
    std::push_heap(heap.begin(), heap.end(), Before);
  }
  result.quota = last.Reduced();
  outcome->winner = run.back();
  for (const Entry& entry : heap) {
    result.choices[entry.index].quotient = entry.quotient.Reduced();
  }

  // Seat S+1 and the tie, if the next quotient equals the last one.
  std::vector<size_t> losers;
  while (!heap.empty()) {
    const Entry next = PopTop(heap);
    if (next.quotient == last) losers.push_back(next.index);
    if (!outcome->runner_up.has_value() &&
        result.choices[next.index].seats < input.seats) {
      outcome->runner_up = next.index;
    }
    if (next.quotient != last && outcome->runner_up.has_value()) break;
  }
  if (!losers.empty()) {
    result.tie_breaks.push_back(prepared.ties.Describe(
        SeatsLabel(input.seats - run.size() + 1, input.seats), "quotient",
        ValueText(last), run, losers));
  }
}

}  // namespace tally::seats::internal
