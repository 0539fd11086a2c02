// Conversion of the scheduler's SchedStats snapshot to its wire mirror
// (skein.v1.SchedStats in proto/skein/v1/common.proto). Field for field; the
// sample time is stamped here, on the worker, when the snapshot is taken.
#pragma once

#include "skein/stats.hpp"
#include "skein/v1/common.pb.h"

namespace skein::node {

void to_proto(const SchedStats& in, skein::v1::SchedStats* out);

}  // namespace skein::node
