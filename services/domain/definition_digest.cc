#include "services/domain/definition_digest.h"

#include "absl/status/status.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "services/domain/protocol_digest.h"

namespace tally {

absl::StatusOr<std::string> DeterministicDefinitionBytes(
    const v1::ElectionDefinition& definition) {
  std::string bytes;
  bool ok = false;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    ok = definition.SerializeToCodedStream(&coded) && !coded.HadError();
  }  // The coded stream flushes into `bytes` when it goes out of scope.
  if (!ok) {
    return absl::InvalidArgumentError("cannot serialize the definition");
  }
  return bytes;
}

absl::StatusOr<std::string> DefinitionDigestOfBytes(absl::string_view bytes) {
  const std::string digest = Sha256(bytes);
  if (digest.empty()) return absl::InternalError("SHA-256 failed");
  return HexEncode(digest);
}

absl::StatusOr<std::string> DefinitionDigest(
    const v1::ElectionDefinition& definition) {
  absl::StatusOr<std::string> bytes = DeterministicDefinitionBytes(definition);
  if (!bytes.ok()) return bytes.status();
  return DefinitionDigestOfBytes(*bytes);
}

}  // namespace tally
