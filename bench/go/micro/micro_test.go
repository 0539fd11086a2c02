// Package micro holds the Go twins of bench/sched/micro_bench.cpp, so the
// scheduler's hot paths can be compared one by one:
//
//	GOMAXPROCS=2 go test -bench . -benchtime 2s ./micro   (from bench/go)
//
// BenchmarkGoschedSwitch pins itself to one P (as BM_YieldSwitch uses
// Config{.procs = 1}) and reports ns per goroutine switch.
package micro

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Each contended goroutine takes the lock this many times per iteration, as
// kLocksPerGoroutine in micro_bench.cpp.
const locksPerGoroutine = 1000

func BenchmarkSpawnJoin(b *testing.B) {
	var ran int64
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			ran++
			wg.Done()
		}()
		wg.Wait()
	}
	if ran != int64(b.N) {
		b.Fatalf("ran %d goroutines, want %d", ran, b.N)
	}
}

func BenchmarkGoschedSwitch(b *testing.B) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var stop int32
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		for atomic.LoadInt32(&stop) == 0 {
			runtime.Gosched()
		}
		wg.Done()
	}()
	runtime.Gosched()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		runtime.Gosched() // main -> partner -> main: two switches
	}
	elapsed := time.Since(start)
	b.StopTimer()
	atomic.StoreInt32(&stop, 1)
	wg.Wait()
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(2*b.N), "ns/switch")
}

func BenchmarkMutexUncontended(b *testing.B) {
	var mu sync.Mutex
	counter := 0
	for i := 0; i < b.N; i++ {
		mu.Lock()
		counter++
		mu.Unlock()
	}
	if counter != b.N {
		b.Fatalf("counter %d, want %d", counter, b.N)
	}
}

func benchmarkMutexContended(b *testing.B, goroutines int) {
	var mu sync.Mutex
	counter := 0
	start := time.Now()
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		wg.Add(goroutines)
		for g := 0; g < goroutines; g++ {
			go func() {
				for j := 0; j < locksPerGoroutine; j++ {
					mu.Lock()
					counter++
					mu.Unlock()
				}
				wg.Done()
			}()
		}
		wg.Wait()
	}
	want := b.N * goroutines * locksPerGoroutine
	if counter != want {
		b.Fatalf("counter %d, want %d", counter, want)
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(want), "ns/lock")
}

func BenchmarkMutexContended2(b *testing.B)  { benchmarkMutexContended(b, 2) }
func BenchmarkMutexContended4(b *testing.B)  { benchmarkMutexContended(b, 4) }
func BenchmarkMutexContended16(b *testing.B) { benchmarkMutexContended(b, 16) }
