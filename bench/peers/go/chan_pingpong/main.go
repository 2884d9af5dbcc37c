// Command chan_pingpong is the Go twin of bench/chan_pingpong.c: two
// goroutines bounce an int64 N times over two unbuffered channels, and the
// figure is the time per round trip.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
)

// pinger sends 0..rounds-1 on ping, checking that each comes back on pong
// one higher, then closes ping and reports the number of wrong answers.
func pinger(ping chan<- int64, pong <-chan int64, rounds int64, wrong chan<- int64) {
	var bad int64
	for i := int64(0); i < rounds; i++ {
		ping <- i
		if <-pong != i+1 {
			bad++
		}
	}
	close(ping)
	wrong <- bad
}

// ponger answers every value on ping with its successor on pong until ping
// is closed, then reports the sum of the values it received.
func ponger(ping <-chan int64, pong chan<- int64, sum chan<- int64) {
	var s int64
	for v := range ping {
		s += v
		pong <- v + 1
	}
	sum <- s
}

func main() {
	workers := flag.Int("w", 2, "worker threads (GOMAXPROCS)")
	rounds := flag.Int64("n", 1000000, "round trips")
	flag.Parse()
	if *workers < 1 || *rounds < 1 {
		fmt.Fprintln(os.Stderr, "chan_pingpong: -w and -n must be at least 1")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*workers)

	start := time.Now()
	ping, pong := make(chan int64), make(chan int64)
	wrong, sum := make(chan int64, 1), make(chan int64, 1)
	go ponger(ping, pong, sum)
	go pinger(ping, pong, *rounds, wrong)
	bad, s := <-wrong, <-sum
	elapsed := time.Since(start)

	want := *rounds * (*rounds - 1) / 2
	fmt.Fprintf(os.Stderr, "chan_pingpong: %d round trips in %v, sum %d\n", *rounds, elapsed, s)
	if bad != 0 || s != want {
		fmt.Fprintf(os.Stderr, "chan_pingpong: %d wrong answers, want sum %d\n", bad, want)
		os.Exit(1)
	}
	fmt.Printf("RESULT chan_pingpong %.2f ns/op\n", float64(elapsed.Nanoseconds())/float64(*rounds))
}
