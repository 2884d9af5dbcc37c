// Command fib is the Go twin of bench/fib.c: fork-join fib(27) with a
// goroutine per call, each call receiving its two halves on one channel.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
)

const (
	arg  = 27
	want = 196418
)

// fib sends fib(n) on out, computing it with two child goroutines when
// n >= 2. The children share one buffered channel so neither waits to send.
func fib(n int, out chan<- int) {
	if n < 2 {
		out <- n
		return
	}
	halves := make(chan int, 2)
	go fib(n-1, halves)
	go fib(n-2, halves)
	out <- <-halves + <-halves
}

func main() {
	workers := flag.Int("w", 2, "worker threads (GOMAXPROCS)")
	flag.Parse()
	if *workers < 1 {
		fmt.Fprintln(os.Stderr, "fib: -w must be at least 1")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*workers)

	start := time.Now()
	root := make(chan int, 1)
	go fib(arg, root)
	got := <-root
	elapsed := time.Since(start)

	fmt.Fprintf(os.Stderr, "fib: fib(%d) = %d\n", arg, got)
	if got != want {
		fmt.Fprintf(os.Stderr, "fib: wrong value, want %d\n", want)
		os.Exit(1)
	}
	fmt.Printf("RESULT fib %.2f ms\n", float64(elapsed.Nanoseconds())/1e6)
}
