#include "services/relay/relay_state.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace tally::relay {

RelayState::RelayState(size_t retained_events)
    : retained_(std::max<size_t>(retained_events, 1)) {}

RelayState::Key RelayState::KeyOf(const std::string& contest,
                                  const v1::Scope& scope) {
  // Unspecified and national are the same scope (as in the watch filters).
  const v1::ScopeKind kind = scope.kind() == v1::SCOPE_KIND_UNSPECIFIED
                                 ? v1::SCOPE_KIND_NATIONAL
                                 : scope.kind();
  return {contest,
          {kind, kind == v1::SCOPE_KIND_NATIONAL ? std::string() : scope.id()}};
}

void RelayState::Reset(feed::SnapshotView view,
                       std::vector<std::shared_ptr<const v1::Event>> history) {
  // Keep the contiguous run that ends exactly at the snapshot.
  size_t keep_from = history.size();
  uint64_t expect = view.revision;
  while (keep_from > 0 && history.size() - keep_from < retained_ &&
         history[keep_from - 1] != nullptr &&
         history[keep_from - 1]->revision() == expect && expect > 0) {
    --keep_from;
    --expect;
  }
  absl::MutexLock lock(&mu_);
  complete_ = true;
  revision_ = view.revision;
  totals_ = std::move(view.totals);
  allocations_ = std::move(view.allocations);
  progress_ = std::move(view.progress);
  signed_head_ = std::move(view.signed_head);
  forensics_flags_.clear();
  for (v1::ScopeFlags& flags : view.forensics_flags) {
    const Key key = KeyOf(flags.contest_id(), flags.scope());
    forensics_flags_[key] = std::move(flags);
  }
  totals_index_.clear();
  allocations_index_.clear();
  for (size_t i = 0; i < totals_.size(); ++i) {
    totals_index_[KeyOf(totals_[i].contest_id(), totals_[i].scope())] = i;
  }
  for (size_t i = 0; i < allocations_.size(); ++i) {
    allocations_index_[KeyOf(allocations_[i].contest_id(),
                             allocations_[i].scope())] = i;
  }
  ring_.clear();
  for (size_t i = keep_from; i < history.size(); ++i) {
    ring_.push_back(std::move(history[i]));
  }
}

absl::Status RelayState::Apply(std::shared_ptr<const v1::Event> event) {
  absl::MutexLock lock(&mu_);
  if (!complete_) {
    return absl::FailedPreconditionError(
        absl::StrCat("event ", event->revision(), " before any snapshot"));
  }
  if (event->revision() != revision_ + 1) {
    return absl::DataLossError(absl::StrCat(
        "event ", event->revision(), " does not follow revision ", revision_));
  }
  // Events carry new full values: replace, or add a scope not seen yet.
  for (const v1::Totals& t : event->totals()) {
    auto [it, added] =
        totals_index_.emplace(KeyOf(t.contest_id(), t.scope()), totals_.size());
    if (added) {
      totals_.push_back(t);
    } else {
      totals_[it->second] = t;
    }
  }
  for (const v1::SeatAllocation& a : event->allocations()) {
    auto [it, added] = allocations_index_.emplace(
        KeyOf(a.contest_id(), a.scope()), allocations_.size());
    if (added) {
      allocations_.push_back(a);
    } else {
      allocations_[it->second] = a;
    }
  }
  // Each carries its scope's new full set of flags; empty: unflagged.
  for (const v1::ScopeFlags& f : event->forensics_flags()) {
    const Key key = KeyOf(f.contest_id(), f.scope());
    if (f.flags().empty()) {
      forensics_flags_.erase(key);
    } else {
      forensics_flags_[key] = f;
    }
  }
  if (event->has_progress()) progress_ = event->progress();
  // Passed on as the aggregator signed it: the relay holds no key.
  signed_head_ = event->signed_head();
  revision_ = event->revision();
  ring_.push_back(std::move(event));
  while (ring_.size() > retained_) ring_.pop_front();
  return absl::OkStatus();
}

feed::SnapshotView RelayState::Snapshot() const {
  absl::MutexLock lock(&mu_);
  feed::SnapshotView view;
  view.revision = revision_;
  view.totals = totals_;
  view.allocations = allocations_;
  view.progress = progress_;
  view.signed_head = signed_head_;
  for (const auto& [key, flags] : forensics_flags_) {
    view.forensics_flags.push_back(flags);
  }
  return view;
}

bool RelayState::complete() const {
  absl::MutexLock lock(&mu_);
  return complete_;
}

uint64_t RelayState::revision() const {
  absl::MutexLock lock(&mu_);
  return revision_;
}

uint64_t RelayState::oldest_revision() const {
  absl::MutexLock lock(&mu_);
  return ring_.empty() ? revision_ + 1 : ring_.front()->revision();
}

bool RelayState::Read(uint64_t from, uint64_t to,
                      const std::function<bool(const v1::Event&)>& fn) {
  // Copy the range out so `fn` (filtering, allocation) runs without the
  // lock that the upstream thread needs for every event.
  std::vector<std::shared_ptr<const v1::Event>> range;
  {
    absl::MutexLock lock(&mu_);
    if (ring_.empty() || to < from) return true;
    const uint64_t first = ring_.front()->revision();
    const uint64_t last = ring_.back()->revision();
    const uint64_t begin = std::max(from, first);
    const uint64_t end = std::min(to, last);
    for (uint64_t r = begin; r <= end && begin <= end; ++r) {
      range.push_back(ring_[r - first]);
    }
  }
  for (const std::shared_ptr<const v1::Event>& event : range) {
    if (!fn(*event)) break;
  }
  return true;
}

}  // namespace tally::relay
