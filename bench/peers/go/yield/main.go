// Command yield is the Go twin of bench/yield.c: T goroutines each call
// runtime.Gosched Y times, and the figure is the time per yield.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

// yielder gives up its processor n times, then signals wg.
func yielder(n int, wg *sync.WaitGroup) {
	defer wg.Done()
	for i := 0; i < n; i++ {
		runtime.Gosched()
	}
}

func main() {
	workers := flag.Int("w", 2, "worker threads (GOMAXPROCS)")
	tasks := flag.Int("t", 2, "yielding goroutines")
	yields := flag.Int("n", 1000000, "yields per goroutine")
	flag.Parse()
	if *workers < 1 || *tasks < 1 || *yields < 1 {
		fmt.Fprintln(os.Stderr, "yield: -w, -t and -n must be at least 1")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*workers)

	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(*tasks)
	for i := 0; i < *tasks; i++ {
		go yielder(*yields, &wg)
	}
	wg.Wait()
	elapsed := time.Since(start)

	ops := float64(*tasks) * float64(*yields)
	fmt.Fprintf(os.Stderr, "yield: %d goroutines x %d yields in %v\n", *tasks, *yields, elapsed)
	fmt.Printf("RESULT yield %.2f ns/op\n", float64(elapsed.Nanoseconds())/ops)
}
