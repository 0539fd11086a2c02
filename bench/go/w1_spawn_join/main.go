// W1 spawn+join: 1,000,000 goroutines, each adds its index to a shared counter
// atomically, joined by one WaitGroup. The Skein twin is bench/sched/w1_spawn_join.cpp.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

const kGoroutines = 1_000_000

func main() {
	var wg sync.WaitGroup
	var sum int64
	start := time.Now()
	for i := 1; i <= kGoroutines; i++ {
		wg.Add(1)
		v := int64(i)
		go func() {
			atomic.AddInt64(&sum, v)
			wg.Done()
		}()
	}
	wg.Wait()
	ns := time.Since(start).Nanoseconds()
	const want = int64(kGoroutines) * (kGoroutines + 1) / 2
	if sum != want {
		fmt.Fprintf(os.Stderr, "w1_spawn_join: sum %d, want %d\n", sum, want)
		os.Exit(1)
	}
	fmt.Printf("RESULT name=w1_spawn_join ns=%d ops=%d procs=%d\n", ns, kGoroutines, runtime.GOMAXPROCS(0))
}
