#include "services/observability/server_telemetry.h"

#include <utility>

namespace tally::obs {

ServerTelemetry::ServerTelemetry(absl::string_view service) {
  AddProcessMetrics(metrics_, service, TALLY_VERSION_STRING);
}

absl::Status ServerTelemetry::StartAdmin(
    const std::string& listen, std::function<bool()> healthy,
    std::function<std::string()> degraded) {
  if (listen.empty()) return absl::OkStatus();
  if (healthy == nullptr) healthy = [this] { return serving(); };
  absl::StatusOr<std::unique_ptr<AdminServer>> admin = AdminServer::Start(
      listen, &metrics_, std::move(healthy), std::move(degraded));
  if (!admin.ok()) return admin.status();
  admin_ = *std::move(admin);
  return absl::OkStatus();
}

std::string ServerTelemetry::admin_address() const {
  return admin_ != nullptr ? admin_->address() : "";
}

void ServerTelemetry::Stop() {
  if (admin_ != nullptr) admin_->Stop();
}

}  // namespace tally::obs
