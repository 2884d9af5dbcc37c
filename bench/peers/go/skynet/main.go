// Command skynet is the Go twin of bench/skynet.c: one million leaf
// goroutines in a ten-ary tree, six levels deep, each node summing the
// numbers its children send back on a channel.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
)

const (
	leaves = 1000000
	fanout = 10
	want   = 499999500000
)

// skynet sends num when the node is a leaf, and otherwise the sum of its
// children's results. As in the classic program the channel is unbuffered;
// a buffer of ten measured no faster.
func skynet(out chan<- int64, num, size int64) {
	if size == 1 {
		out <- num
		return
	}
	kids := make(chan int64)
	step := size / fanout
	for i := int64(0); i < fanout; i++ {
		go skynet(kids, num+i*step, step)
	}
	var sum int64
	for i := 0; i < fanout; i++ {
		sum += <-kids
	}
	out <- sum
}

func main() {
	workers := flag.Int("w", 2, "worker threads (GOMAXPROCS)")
	flag.Parse()
	if *workers < 1 {
		fmt.Fprintln(os.Stderr, "skynet: -w must be at least 1")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*workers)

	start := time.Now()
	root := make(chan int64, 1)
	go skynet(root, 0, leaves)
	sum := <-root
	elapsed := time.Since(start)

	fmt.Fprintf(os.Stderr, "skynet: sum %d\n", sum)
	if sum != want {
		fmt.Fprintf(os.Stderr, "skynet: wrong sum, want %d\n", int64(want))
		os.Exit(1)
	}
	fmt.Printf("RESULT skynet %.2f ms\n", float64(elapsed.Nanoseconds())/1e6)
}
