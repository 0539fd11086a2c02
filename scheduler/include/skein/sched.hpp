// Umbrella header of the node-local scheduler (libskein_sched): goroutines,
// the runtime, channels and select, synchronization, time and contexts.
// Job authors include <skein/skein.hpp>.
#pragma once

#include "skein/chan.hpp"
#include "skein/context.hpp"
#include "skein/blocking.hpp"
#include "skein/go.hpp"
#include "skein/mutex.hpp"
#include "skein/runtime.hpp"
#include "skein/select.hpp"
#include "skein/stats.hpp"
#include "skein/time.hpp"
#include "skein/timer.hpp"
#include "skein/waitgroup.hpp"
