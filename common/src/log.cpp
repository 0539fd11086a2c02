#include "skein/common/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>

#include <mutex>

namespace skein {
namespace {

std::mutex& registry_mutex() {
  static std::mutex mu;
  return mu;
}

}  // namespace

std::shared_ptr<spdlog::logger> logger(const std::string& component) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  if (auto existing = spdlog::get(component)) {
    return existing;
  }
  auto log = spdlog::stderr_logger_mt(component);
  log->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%L%$ [%n] %v");
  log->set_level(spdlog::get_level());
  return log;
}

void set_log_level(const std::string& level) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    lvl = spdlog::level::info;
  }
  spdlog::set_level(lvl);  // every registered logger and the default for new ones
}

}  // namespace skein
