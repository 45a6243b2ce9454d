// Leaves of the transparency log. A leaf's data is the deterministic
// protobuf serialization of a v1::LogEntry (fields in field-number order,
// default values omitted; LogEntry has no maps), exactly as the aggregator
// stored it: verifiers hash the served bytes and never re-serialize. The
// leaf hash is HashLeaf(leaf_data) (merkle.h).
//
// Pure functions; thread-compatible.
#ifndef TALLY_SERVICES_TRANSPARENCY_LOG_ENTRY_H_
#define TALLY_SERVICES_TRANSPARENCY_LOG_ENTRY_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tally/v1/aggregator.pb.h"
#include "tally/v1/log.pb.h"

namespace tally::transparency {

// The leaf data of an entry.
std::string LeafData(const v1::LogEntry& entry);

// The entry of an accepted version as the aggregator stores it: revision,
// collector id and sequence, protocol (with its digest) and acceptance
// time (its findings and leaf index are not part of the leaf).
v1::LogEntry LogEntryOf(const v1::ProtocolVersion& version);

// Parses leaf data; InvalidArgument when it is not a LogEntry, or not the
// canonical encoding of the entry it holds (bytes the serializer would not
// write, such as unknown fields or repeated scalars, could hide content
// from a reader of the parsed entry).
absl::StatusOr<v1::LogEntry> ParseLeafData(absl::string_view leaf_data);

}  // namespace tally::transparency

#endif  // TALLY_SERVICES_TRANSPARENCY_LOG_ENTRY_H_
