// Command sleepers is the Go twin of bench/sleepers.c: start N goroutines
// (default 100,000) that each sleep 100 ms, wait for all of them with a
// sync.WaitGroup, and report the wall time and the peak resident memory.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
)

const sleepTime = 100 * time.Millisecond

// peakRSS returns the process's peak resident set size in KiB (Linux's
// unit for ru_maxrss), or -1 when it cannot be read.
func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return int64(ru.Maxrss)
}

func main() {
	workers := flag.Int("w", 2, "worker threads (GOMAXPROCS)")
	tasks := flag.Int("n", 100000, "sleeping goroutines")
	flag.Parse()
	if *workers < 1 || *tasks < 1 || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: sleepers [-w WORKERS] [-n TASKS]")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*workers)

	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(*tasks)
	for i := 0; i < *tasks; i++ {
		go func() {
			defer wg.Done()
			time.Sleep(sleepTime)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	ms := float64(elapsed.Nanoseconds()) / 1e6
	rss := peakRSS()

	fmt.Fprintf(os.Stderr, "sleepers: %d goroutines slept %v in %.2f ms; peak RSS %d KiB\n",
		*tasks, sleepTime, ms, rss)
	fmt.Printf("RESULT sleepers %.2f ms\n", ms)
	fmt.Printf("RESULT sleepers_rss %d KiB\n", rss)
}
