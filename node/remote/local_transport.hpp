// LocalTransport: the binary runs outside a cluster ("development needs no
// cluster"), so every task attempt is a goroutine on this process's scheduler.
// It still goes through the registry and the archives (execute_task), so a
// local run exercises the same encode/decode path as a cluster run.
#pragma once

#include <string_view>

#include "remote/transport.hpp"

namespace skein::detail {

class LocalTransport final : public TaskTransport {
 public:
  static constexpr std::string_view kNodeName = "local";

  // Requires a running runtime (skein::run); the goroutine's spawn site is
  // this file, its work the task.
  void submit(TaskSpec spec, CompletionSink& sink) override;
  bool can_lose_tasks() const override { return false; }
  std::string_view node_name() const override { return kNodeName; }
};

}  // namespace skein::detail
