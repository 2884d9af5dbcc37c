// Command gen_resume is the Go twin of bench/gen_resume.c. Go has no
// generators; its idiom for one is a goroutine that sends 0..N-1 on an
// unbuffered channel, which the consumer ranges over. The figure is the
// time per value.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
)

// countUp sends 0..n-1 on c, then closes it.
func countUp(c chan<- int64, n int64) {
	for i := int64(0); i < n; i++ {
		c <- i
	}
	close(c)
}

func main() {
	workers := flag.Int("w", 2, "worker threads (GOMAXPROCS)")
	values := flag.Int64("n", 10000000, "values generated")
	flag.Parse()
	if *workers < 1 || *values < 1 {
		fmt.Fprintln(os.Stderr, "gen_resume: -w and -n must be at least 1")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*workers)

	start := time.Now()
	c := make(chan int64)
	go countUp(c, *values)
	var sum int64
	for v := range c {
		sum += v
	}
	elapsed := time.Since(start)

	want := *values * (*values - 1) / 2
	fmt.Fprintf(os.Stderr, "gen_resume: %d values in %v, sum %d\n", *values, elapsed, sum)
	if sum != want {
		fmt.Fprintf(os.Stderr, "gen_resume: wrong sum, want %d\n", want)
		os.Exit(1)
	}
	fmt.Printf("RESULT gen_resume %.2f ns/op\n", float64(elapsed.Nanoseconds())/float64(*values))
}
