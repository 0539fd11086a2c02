// W6 parked goroutines: 100,000 goroutines park on one WaitGroup; the resident
// memory they add (RSS after they are all parked minus RSS before) divided by
// their number is the memory cost of a parked goroutine. The Skein twin is
// bench/sched/w6_parked.cpp.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

const kGoroutines = 100_000

// rssBytes reads the resident set size from /proc/self/statm (second field, in pages).
func rssBytes() int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		fmt.Fprintf(os.Stderr, "w6_parked: %v\n", err)
		os.Exit(1)
	}
	var size, resident int64
	if _, err := fmt.Sscan(string(data), &size, &resident); err != nil {
		fmt.Fprintf(os.Stderr, "w6_parked: parse /proc/self/statm: %v\n", err)
		os.Exit(1)
	}
	return resident * int64(os.Getpagesize())
}

func main() {
	var parked, gate, finished sync.WaitGroup
	var sum int64
	gate.Add(1)
	before := rssBytes()
	start := time.Now()
	for i := 1; i <= kGoroutines; i++ {
		parked.Add(1)
		finished.Add(1)
		v := int64(i)
		go func() {
			parked.Done()
			gate.Wait() // parks here until main opens the gate
			atomic.AddInt64(&sum, v)
			finished.Done()
		}()
	}
	parked.Wait()
	// parked.Done() comes just before gate.Wait(): give the last few time to
	// reach their park before sampling. The Skein twin sleeps the same 10 ms.
	time.Sleep(10 * time.Millisecond)
	after := rssBytes()
	gate.Done()
	finished.Wait()
	ns := time.Since(start).Nanoseconds()
	const want = int64(kGoroutines) * (kGoroutines + 1) / 2
	if sum != want {
		fmt.Fprintf(os.Stderr, "w6_parked: sum %d, want %d\n", sum, want)
		os.Exit(1)
	}
	fmt.Printf("RESULT name=w6_parked ns=%d ops=%d bytes_per_g=%d rss_before=%d rss_parked=%d procs=%d\n",
		ns, kGoroutines, (after-before)/kGoroutines, before, after, runtime.GOMAXPROCS(0))
}
