// Umbrella header of the node-local scheduler (libskein_sched): goroutines,
// the runtime, synchronization and time. Job authors include <skein/skein.hpp>.
#pragma once

#include "skein/go.hpp"
#include "skein/mutex.hpp"
#include "skein/runtime.hpp"
#include "skein/stats.hpp"
#include "skein/time.hpp"
#include "skein/waitgroup.hpp"
