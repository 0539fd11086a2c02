// Time: sleeping goroutines on per-P timer heaps.
//
// sleep_for(d) parks the calling goroutine (not the thread) until at least d
// has passed on the steady clock; sleeps never end early. Timers live in the
// sleeping goroutine's P heap; an idle runtime waits for the earliest one in
// the kernel, so a runtime whose goroutines all sleep uses no CPU.
#pragma once

#include <chrono>

namespace skein {

using Clock = std::chrono::steady_clock;

void sleep_until(Clock::time_point deadline);

template <class Rep, class Period>
void sleep_for(std::chrono::duration<Rep, Period> d) {
  sleep_until(Clock::now() + std::chrono::ceil<Clock::duration>(d));
}

}  // namespace skein
