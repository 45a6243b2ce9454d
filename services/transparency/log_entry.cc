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
  // are dropped from the copy compared.
  v1::LogEntry known = entry;
  known.DiscardUnknownFields();
  if (LeafData(known) != leaf_data) {
    return absl::InvalidArgumentError(
        "leaf data is not the canonical encoding of the entry it holds");
  }
  return entry;
}

}  // namespace tally::transparency
