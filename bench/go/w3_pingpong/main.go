// W3 ping-pong: 1,000,000 round trips between two goroutines over two
// unbuffered channels; each trip carries a value the echoer increments.
package main

import (
	"fmt"
	"os"
	"runtime"
	"time"
)

const kRoundTrips = 1_000_000

func main() {
	ping := make(chan int64)
	pong := make(chan int64)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
		close(pong)
	}()
	var sum int64
	start := time.Now()
	for i := int64(0); i < kRoundTrips; i++ {
		ping <- i
		sum += <-pong
	}
	ns := time.Since(start).Nanoseconds()
	close(ping)
	<-pong
	// sum of (i + 1) for i in [0, n) = n(n+1)/2
	const want = int64(kRoundTrips) * (kRoundTrips + 1) / 2
	if sum != want {
		fmt.Fprintf(os.Stderr, "w3_pingpong: sum %d, want %d\n", sum, want)
		os.Exit(1)
	}
	fmt.Printf("RESULT name=w3_pingpong ns=%d ops=%d procs=%d\n", ns, kRoundTrips, runtime.GOMAXPROCS(0))
}
