// Timers as channels: after(d), Timer and Ticker (Go's time.After, time.Timer,
// time.Ticker).
//
//   skein::select(skein::recv(replies, on_reply),
//                 skein::recv(skein::after(100ms), [&] { timed_out = true; }));
//
//   skein::Ticker tick(10ms);
//   for (int i = 0; i < 5; ++i) tick.c().recv();   // ~10 ms apart
//
// Each delivers Clock::now() (the firing time) on a channel of capacity 1.
// Firing happens on a scheduler thread, outside any goroutine, through the
// runtime's per-P timer heaps (detail::TimerNode); it never blocks: the send
// is non-blocking, so a Ticker whose receiver is slow drops ticks (as Go's
// does) instead of queueing them. A timer never fires before its deadline.
//
// Timer (Go 1.19 semantics, as the Go twins in bench/go/ use):
//   stop()     prevents the timer from firing; true if that call stopped it,
//              false if it had already fired (or is firing: its value is then
//              delivered, so `if (!t.stop()) t.c().recv();` drains it) or was
//              stopped.
//   reset(d)   re-arms it to fire d from now; returns true if it had been
//              active. It does not drain the channel: reset a timer that is
//              stopped or whose value was received, or a stale value may be
//              received (Go's rule before 1.23).
// Ticker: c() delivers every `period`; stop() ends it, reset(period) restarts
// it with a new period.
// All methods may be called from any goroutine or thread, concurrently with
// each other and with the timer firing.
//
// Bounded waits on any channel (a select against a Timer that is stopped on
// return, so nothing is left armed):
//   recv_for(ch, d)     kOk with the value, kClosed (closed and drained), or
//                       kTimeout after d.
//   send_for(ch, v, d)  kOk (v moved from) or kTimeout (v untouched).
//
// Lifetime: the channel lives while a handle to it does. An armed timer keeps
// its own state alive until it fires or is stopped, so dropping a Timer stops
// it, and an after(d) timer is freed when it fires (Go's time.After leak note
// applies: prefer Timer + stop() for long timeouts in loops). Timers need a
// running runtime and must not outlive it.
#pragma once

#include <chrono>

#include "skein/chan.hpp"
#include "skein/select.hpp"
#include "skein/time.hpp"

namespace skein {

namespace detail {
class TimerChan;
}

// A channel that receives one value once d has passed.
Chan<Clock::time_point> after(Clock::duration d);

class Timer {
 public:
  explicit Timer(Clock::duration d);
  ~Timer();  // stops it
  Timer(Timer&& o) noexcept;
  Timer& operator=(Timer&& o) noexcept;
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // The channel the firing time is delivered on (Go's t.C).
  const Chan<Clock::time_point>& c() const;
  bool stop();
  bool reset(Clock::duration d);

 private:
  detail::TimerChan* t_;
};

class Ticker {
 public:
  // period must be positive (fatal otherwise, as Go's panic).
  explicit Ticker(Clock::duration period);
  ~Ticker();  // stops it
  Ticker(Ticker&& o) noexcept;
  Ticker& operator=(Ticker&& o) noexcept;
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;

  const Chan<Clock::time_point>& c() const;
  void stop();
  void reset(Clock::duration period);

 private:
  detail::TimerChan* t_;
};

template <class T>
RecvResult<T> recv_for(const Chan<T>& ch, Clock::duration d) {
  RecvResult<T> r;
  Timer t(d);
  select(recv(ch,
              [&](std::optional<T> v) {
                r.status = v ? ChanStatus::kOk : ChanStatus::kClosed;
                r.value = std::move(v);
              }),
         recv(t.c(), [&] { r.status = ChanStatus::kTimeout; }));
  return r;
}

template <class T>
ChanStatus send_for(const Chan<T>& ch, T&& v, Clock::duration d) {
  Timer t(d);
  return select(send(ch, v), recv(t.c())) == 0 ? ChanStatus::kOk : ChanStatus::kTimeout;
}

}  // namespace skein
