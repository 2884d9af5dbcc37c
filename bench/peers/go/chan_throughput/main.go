// Command chan_throughput is the Go twin of bench/chan_throughput.c: 4
// producer goroutines and 4 consumers move N int64s in all through one
// channel with a buffer of 1024, and the figure is the time per element.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

const (
	producers = 4
	consumers = 4
	capacity  = 1024
)

// tally is what one consumer received.
type tally struct {
	count int64
	sum   int64
}

// produce sends first..last-1 on c, then signals wg.
func produce(c chan<- int64, first, last int64, wg *sync.WaitGroup) {
	defer wg.Done()
	for v := first; v < last; v++ {
		c <- v
	}
}

// consume counts and sums what it receives on c into t until c is closed,
// then signals wg.
func consume(c <-chan int64, t *tally, wg *sync.WaitGroup) {
	defer wg.Done()
	var n, s int64
	for v := range c {
		n++
		s += v
	}
	t.count, t.sum = n, s
}

func main() {
	workers := flag.Int("w", 2, "worker threads (GOMAXPROCS)")
	total := flag.Int64("n", 4000000, "elements in all")
	flag.Parse()
	if *workers < 1 || *total < 1 {
		fmt.Fprintln(os.Stderr, "chan_throughput: -w and -n must be at least 1")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*workers)

	start := time.Now()
	c := make(chan int64, capacity)
	var tallies [consumers]tally
	var prod, cons sync.WaitGroup
	cons.Add(consumers)
	for i := range tallies {
		go consume(c, &tallies[i], &cons)
	}
	prod.Add(producers)
	for i := int64(0); i < producers; i++ {
		go produce(c, *total*i/producers, *total*(i+1)/producers, &prod)
	}
	prod.Wait()
	close(c)
	cons.Wait()
	elapsed := time.Since(start)

	var n, s int64
	for _, t := range tallies {
		n += t.count
		s += t.sum
	}
	want := *total * (*total - 1) / 2
	fmt.Fprintf(os.Stderr, "chan_throughput: %d elements in %v\n", *total, elapsed)
	if n != *total || s != want {
		fmt.Fprintf(os.Stderr, "chan_throughput: received %d values summing to %d, want %d and %d\n",
			n, s, *total, want)
		os.Exit(1)
	}
	fmt.Printf("RESULT chan_throughput %.2f ns/op\n", float64(elapsed.Nanoseconds())/float64(*total))
}
