// W5 fork-join fib(27): every call with n >= 2 runs fib(n-1) in a new goroutine,
// computes fib(n-2) inline and joins the child through a WaitGroup. The Skein
// twin is bench/sched/w5_fib.cpp.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

var spawned int64

func fib(n int) int64 {
	if n < 2 {
		return int64(n)
	}
	var wg sync.WaitGroup
	var a int64
	wg.Add(1)
	atomic.AddInt64(&spawned, 1)
	go func() {
		a = fib(n - 1)
		wg.Done()
	}()
	b := fib(n - 2)
	wg.Wait()
	return a + b
}

// fibSeq is the reference result, computed without goroutines.
func fibSeq(n int) int64 {
	a, b := int64(0), int64(1)
	for i := 0; i < n; i++ {
		a, b = b, a+b
	}
	return a
}

func main() {
	n := 27
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v < 0 || v > 40 {
			fmt.Fprintf(os.Stderr, "usage: w5_fib [N in 0..40]\n")
			os.Exit(2)
		}
		n = v
	}
	start := time.Now()
	got := fib(n)
	ns := time.Since(start).Nanoseconds()
	if want := fibSeq(n); got != want {
		fmt.Fprintf(os.Stderr, "w5_fib: fib(%d) = %d, want %d\n", n, got, want)
		os.Exit(1)
	}
	fmt.Printf("RESULT name=w5_fib ns=%d ops=%d n=%d fib=%d procs=%d\n", ns, spawned, n, got, runtime.GOMAXPROCS(0))
}
