// Command spawn is the Go twin of bench/spawn.c: start goroutines that
// return at once, in batches of 1000 joined with a sync.WaitGroup, and
// report the cost of each spawn and join.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

const batchSize = 1000

// runBatch starts n goroutines that only mark themselves done, and waits
// for all of them.
func runBatch(n int) {
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		go wg.Done()
	}
	wg.Wait()
}

func main() {
	workers := flag.Int("w", 2, "worker threads (GOMAXPROCS)")
	total := flag.Int("n", 1000000, "goroutines in total")
	flag.Parse()
	if *workers < 1 || *total < 1 {
		fmt.Fprintln(os.Stderr, "spawn: -w and -n must be at least 1")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*workers)

	start := time.Now()
	for left := *total; left > 0; left -= batchSize {
		if left < batchSize {
			runBatch(left)
		} else {
			runBatch(batchSize)
		}
	}
	elapsed := time.Since(start)

	fmt.Fprintf(os.Stderr, "spawn: %d goroutines in %v\n", *total, elapsed)
	fmt.Printf("RESULT spawn %.2f ns/task\n", float64(elapsed.Nanoseconds())/float64(*total))
}
