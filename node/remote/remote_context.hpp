// The process's remote-task context: one OwnerTable over one TaskTransport.
//
// Built on first use (the first spawn) with the LocalTransport, unless a
// transport was installed before: the cluster mode installs its own from the
// run hook, before main's goroutine starts. The context lives until the
// process exits (never destroyed, since abandoned goroutines may still hold
// it when skein::run returns).
#pragma once

#include <memory>

#include "remote/owner_table.hpp"
#include "remote/transport.hpp"

namespace skein::detail {

// Installs the transport spawn will use. Fatal if one is already in place
// (installed before, or made by a spawn). Any thread.
void install_transport(std::unique_ptr<TaskTransport> transport);

// The process's owner table (building the local context if needed).
OwnerTable& process_owner_table();
// The transport that table uses (building the local context if needed).
TaskTransport& process_transport();

}  // namespace skein::detail
