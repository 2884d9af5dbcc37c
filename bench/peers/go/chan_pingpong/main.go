// Command chan_pingpong is the Go twin of bench/chan_pingpong.c: two
// goroutines bounce an int64 N times over two unbuffered channels, and the
// figure is the time per round trip. Then they do it again with a deadline
// a second ahead on every send and receive, the way Go code bounds a
// channel operation in a hot loop: a select on the channel and a timer
// each goroutine keeps and resets (time.After would allocate a timer per
// operation). The untimed goroutines are kept apart from the timed ones so
// that the untimed row measures Go's plain channel operations.
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

// deadline bounds channel operations with one reusable timer.
type deadline struct {
	t *time.Timer
}

func newDeadline() deadline {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return deadline{t}
}

// arm starts the timer a second ahead; disarm stops it, draining a fire
// that raced the operation, so that the next arm starts clean.
func (d deadline) arm() <-chan time.Time {
	d.t.Reset(time.Second)
	return d.t.C
}

func (d deadline) disarm() {
	if !d.t.Stop() {
		<-d.t.C
	}
}

func timedOut(what string) {
	fmt.Fprintf(os.Stderr, "chan_pingpong: %s timed out\n", what)
	os.Exit(1)
}

func send(c chan<- int64, v int64, d deadline) {
	select {
	case c <- v:
	case <-d.arm():
		timedOut("send")
	}
	d.disarm()
}

func recv(c <-chan int64, d deadline) (int64, bool) {
	var v int64
	var ok bool
	select {
	case v, ok = <-c:
	case <-d.arm():
		timedOut("receive")
	}
	d.disarm()
	return v, ok
}

// timedPinger and timedPonger are pinger and ponger with a deadline on
// every operation.
func timedPinger(ping chan<- int64, pong <-chan int64, rounds int64, wrong chan<- int64) {
	var bad int64
	d := newDeadline()
	for i := int64(0); i < rounds; i++ {
		send(ping, i, d)
		if v, _ := recv(pong, d); v != i+1 {
			bad++
		}
	}
	close(ping)
	wrong <- bad
}

func timedPonger(ping <-chan int64, pong chan<- int64, sum chan<- int64) {
	var s int64
	d := newDeadline()
	for {
		v, ok := recv(ping, d)
		if !ok {
			break
		}
		s += v
		send(pong, v+1, d)
	}
	sum <- s
}

// run bounces rounds values and returns the time it took, the number of
// wrong answers and the sum the ponger saw.
func run(rounds int64, timed bool) (time.Duration, int64, int64) {
	start := time.Now()
	ping, pong := make(chan int64), make(chan int64)
	wrong, sum := make(chan int64, 1), make(chan int64, 1)
	if timed {
		go timedPonger(ping, pong, sum)
		go timedPinger(ping, pong, rounds, wrong)
	} else {
		go ponger(ping, pong, sum)
		go pinger(ping, pong, rounds, wrong)
	}
	bad, s := <-wrong, <-sum
	return time.Since(start), bad, s
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

	want := *rounds * (*rounds - 1) / 2
	elapsed, bad, s := run(*rounds, false)
	timedElapsed, timedBad, timedSum := run(*rounds, true)
	fmt.Fprintf(os.Stderr, "chan_pingpong: %d round trips in %v, sum %d; timed: %v, sum %d\n",
		*rounds, elapsed, s, timedElapsed, timedSum)
	if bad != 0 || s != want || timedBad != 0 || timedSum != want {
		fmt.Fprintf(os.Stderr, "chan_pingpong: wrong answers, want sum %d\n", want)
		os.Exit(1)
	}
	fmt.Printf("RESULT chan_pingpong %.2f ns/op\n", float64(elapsed.Nanoseconds())/float64(*rounds))
	fmt.Printf("RESULT chan_timed %.2f ns/op\n", float64(timedElapsed.Nanoseconds())/float64(*rounds))
}
