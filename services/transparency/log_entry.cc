#include "services/transparency/log_entry.h"

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace tally::transparency {

std::string LeafData(const v1::LogEntry& entry) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    entry.SerializeToCodedStream(&coded);
  }
  return out;
}

absl::StatusOr<v1::LogEntry> ParseLeafData(absl::string_view leaf_data) {
  v1::LogEntry entry;
  if (!entry.ParseFromArray(leaf_data.data(),
                            static_cast<int>(leaf_data.size()))) {
    return absl::InvalidArgumentError("leaf data is not a tally.v1.LogEntry");
  }
  // Unknown fields are kept and written back by the serializer, so they
  // are looked for first (in every message a LogEntry can hold); then the
  // encoding must be the one the serializer writes.
  const auto has_unknown = [](const google::protobuf::Message& message) {
    return !message.GetReflection()->GetUnknownFields(message).empty();
  };
  const v1::StationProtocol& protocol = entry.protocol();
  bool unknown = has_unknown(entry) || has_unknown(entry.accepted_at()) ||
                 has_unknown(protocol) || has_unknown(protocol.accounting()) ||
                 has_unknown(protocol.signed_at());
  for (const v1::ChoiceVotes& line : protocol.votes()) {
    unknown = unknown || has_unknown(line);
  }
  if (unknown || entry.ByteSizeLong() != leaf_data.size() ||
      LeafData(entry) != leaf_data) {
    return absl::InvalidArgumentError(
        "leaf data is not the canonical encoding of the entry it holds");
  }
  return entry;
}

v1::LogEntry LogEntryOf(const v1::ProtocolVersion& version) {
  v1::LogEntry entry;
  entry.set_revision(version.revision());
  entry.set_collector_id(version.collector_id());
  entry.set_collector_seq(version.collector_seq());
  *entry.mutable_protocol() = version.protocol();
  *entry.mutable_accepted_at() = version.accepted_at();
  return entry;
}

}  // namespace tally::transparency
