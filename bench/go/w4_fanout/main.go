// W4 fan-out/fan-in: 4 producers send 10,000,000 ints in total into one
// buffered channel (capacity 1024) drained by 4 consumers; the consumers'
// partial sums must add up to the sum of the values sent.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

const (
	kItems     = 10_000_000
	kProducers = 4
	kConsumers = 4
	kCapacity  = 1024
)

func main() {
	ch := make(chan int64, kCapacity)
	var producers, consumers sync.WaitGroup
	partial := make([]int64, kConsumers)
	start := time.Now()
	for c := 0; c < kConsumers; c++ {
		consumers.Add(1)
		go func(c int) {
			var s int64
			for v := range ch {
				s += v
			}
			partial[c] = s
			consumers.Done()
		}(c)
	}
	const perProducer = kItems / kProducers
	for p := 0; p < kProducers; p++ {
		producers.Add(1)
		go func(p int) {
			base := int64(p) * perProducer
			for i := int64(0); i < perProducer; i++ {
				ch <- base + i
			}
			producers.Done()
		}(p)
	}
	producers.Wait()
	close(ch)
	consumers.Wait()
	ns := time.Since(start).Nanoseconds()
	var sum int64
	for _, s := range partial {
		sum += s
	}
	const want = int64(kItems) * (kItems - 1) / 2
	if sum != want {
		fmt.Fprintf(os.Stderr, "w4_fanout: sum %d, want %d\n", sum, want)
		os.Exit(1)
	}
	fmt.Printf("RESULT name=w4_fanout ns=%d ops=%d procs=%d\n", ns, kItems, runtime.GOMAXPROCS(0))
}
