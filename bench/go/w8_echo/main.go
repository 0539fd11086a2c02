// W8 echo: a goroutine-per-connection TCP echo server on 127.0.0.1 and, in the
// same process, 64 client goroutines each doing 10,000 request/response round
// trips of 64 bytes (640,000 echoes; every byte checked).
// The Skein twin is bench/sched/w8_echo.cpp.
package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

const (
	kConns = 64
	kTrips = 10_000
	kMsg   = 64
)

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil || n == 0 {
			return
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
	}
}

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "w8_echo:", err)
		os.Exit(1)
	}
	go func() {
		for i := 0; i < kConns; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	conns := make([]net.Conn, kConns)
	for i := range conns {
		if conns[i], err = net.Dial("tcp", ln.Addr().String()); err != nil {
			fmt.Fprintln(os.Stderr, "w8_echo:", err)
			os.Exit(1)
		}
	}
	var good int64
	var wg sync.WaitGroup
	wg.Add(kConns)
	start := time.Now()
	for i := 0; i < kConns; i++ {
		go func(i int) {
			defer wg.Done()
			out := make([]byte, kMsg)
			in := make([]byte, kMsg)
			for t := 0; t < kTrips; t++ {
				for k := range out {
					out[k] = byte('a' + (i+t)%26)
				}
				if _, err := conns[i].Write(out); err != nil {
					return
				}
				if _, err := io.ReadFull(conns[i], in); err != nil {
					return
				}
				if bytes.Equal(in, out) {
					atomic.AddInt64(&good, 1)
				}
			}
		}(i)
	}
	wg.Wait()
	ns := time.Since(start).Nanoseconds()
	if good != kConns*kTrips {
		fmt.Fprintf(os.Stderr, "w8_echo: %d good echoes, want %d\n", good, kConns*kTrips)
		os.Exit(1)
	}
	fmt.Printf("RESULT name=w8_echo ns=%d ops=%d procs=%d\n", ns, kConns*kTrips, runtime.GOMAXPROCS(0))
}
