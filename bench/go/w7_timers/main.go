// W7 timers: 100,000 goroutines each sleep 10 ms, then are joined. Reports the
// shortest and longest sleep observed; a sleep shorter than 10 ms is a failure.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

const (
	kGoroutines = 100_000
	kSleep      = 10 * time.Millisecond
)

func main() {
	var wg sync.WaitGroup
	minSleep := int64(1 << 62)
	var maxSleep int64
	start := time.Now()
	for i := 0; i < kGoroutines; i++ {
		wg.Add(1)
		go func() {
			t0 := time.Now()
			time.Sleep(kSleep)
			d := time.Since(t0).Nanoseconds()
			for {
				cur := atomic.LoadInt64(&minSleep)
				if d >= cur || atomic.CompareAndSwapInt64(&minSleep, cur, d) {
					break
				}
			}
			for {
				cur := atomic.LoadInt64(&maxSleep)
				if d <= cur || atomic.CompareAndSwapInt64(&maxSleep, cur, d) {
					break
				}
			}
			wg.Done()
		}()
	}
	wg.Wait()
	ns := time.Since(start).Nanoseconds()
	if minSleep < kSleep.Nanoseconds() {
		fmt.Fprintf(os.Stderr, "w7_timers: a sleep lasted %d ns, less than %d ns\n", minSleep, kSleep.Nanoseconds())
		os.Exit(1)
	}
	fmt.Printf("RESULT name=w7_timers ns=%d ops=%d min_sleep_ns=%d max_sleep_ns=%d procs=%d\n",
		ns, kGoroutines, minSleep, maxSleep, runtime.GOMAXPROCS(0))
}
