// W2 skynet: a tree of goroutines, 10 children per node, 1,000,000 leaves; each
// leaf sends its index and every inner node sends the sum of its children back
// to its parent over a channel. The expected total is 499999500000.
package main

import (
	"fmt"
	"os"
	"runtime"
	"time"
)

const (
	kLeaves   = 1_000_000
	kChildren = 10
)

func skynet(out chan<- int64, num int64, size int64) {
	if size == 1 {
		out <- num
		return
	}
	rc := make(chan int64)
	step := size / kChildren
	for i := int64(0); i < kChildren; i++ {
		go skynet(rc, num+i*step, step)
	}
	var sum int64
	for i := 0; i < kChildren; i++ {
		sum += <-rc
	}
	out <- sum
}

func main() {
	start := time.Now()
	out := make(chan int64)
	go skynet(out, 0, kLeaves)
	sum := <-out
	ns := time.Since(start).Nanoseconds()
	const want = int64(kLeaves) * (kLeaves - 1) / 2
	if sum != want {
		fmt.Fprintf(os.Stderr, "w2_skynet: sum %d, want %d\n", sum, want)
		os.Exit(1)
	}
	// Goroutines spawned: 1 + 10 + ... + 1,000,000.
	fmt.Printf("RESULT name=w2_skynet ns=%d ops=%d sum=%d procs=%d\n", ns, 1_111_111, sum, runtime.GOMAXPROCS(0))
}
