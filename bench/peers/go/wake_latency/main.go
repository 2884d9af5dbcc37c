// Command wake_latency is the Go twin of bench/wake_latency.c: how long a
// parked goroutine waits between the event that wakes it and the moment it
// runs, in two parts.
//
// chan: a receiver parked on an unbuffered channel; a sender reads the
// clock and sends the time. With GOMAXPROCS 2 or more the sender spins
// until the receiver has run (then GAP more), so its P stays busy and the
// receiver must run on another one; both note the thread they run on and
// only messages received on another thread than the sender's count. With
// GOMAXPROCS 1 the sender spins with runtime.Gosched instead.
//
// sock: a goroutine parked in Read on a loopback TCP connection whose other
// end belongs to a child process (this program again, run as the writer)
// that every GAP reads CLOCK_MONOTONIC and writes it (8 bytes). Both read
// it through Go's own clock, whose offset from CLOCK_MONOTONIC each
// process measures once (monoClock).
//
// Each part skips warmup messages, counts -n, and reports the 50th and
// 99th percentiles (nearest rank) in microseconds on four RESULT lines.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

const (
	gap       = 200 * time.Microsecond // from one message to the next
	warmup    = 100                    // messages at the start of each part not counted
	ioTimeout = 10 * time.Second
	writerEnv = "WAKE_LATENCY_WRITER" // set in the writer process: the address to dial
)

// rawMonoNs reads CLOCK_MONOTONIC with a system call (a microsecond or
// more on a VM, where the vDSO Go's own clock uses costs tens of ns).
func rawMonoNs() int64 {
	var ts syscall.Timespec
	syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, 1 /* CLOCK_MONOTONIC */, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}

// monoClock reads CLOCK_MONOTONIC, the clock the writer process shares
// with this one, at the cost of Go's own monotonic clock. Go's monotonic
// readings are CLOCK_MONOTONIC less a base of each process's own, so the
// difference is measured once against rawMonoNs.
type monoClock struct {
	base   time.Time
	offset int64 // CLOCK_MONOTONIC less time.Since(base), in ns
}

// newMonoClock measures the offset: of many raw readings, the one between
// the two closest Go readings, taken at their midpoint.
func newMonoClock() monoClock {
	c := monoClock{base: time.Now()}
	best := time.Duration(math.MaxInt64)
	for i := 0; i < 1000; i++ {
		t1 := time.Since(c.base)
		raw := rawMonoNs()
		t2 := time.Since(c.base)
		if t2-t1 < best {
			best = t2 - t1
			c.offset = raw - int64(t1+t2)/2
		}
	}
	return c
}

// ns reads the clock.
func (c monoClock) ns() int64 {
	return int64(time.Since(c.base)) + c.offset
}

// stamp is what the channel carries: when it was sent and from which thread.
type stamp struct {
	at  time.Duration // since the part's start, right before the send
	tid int           // the sender's thread
}

// chanPart sends warmup+n stamps and returns the delays counted, in
// microseconds, and how many were received on the sender's own thread.
func chanPart(n int, oneP bool) ([]float64, int) {
	c := make(chan stamp)
	var received uint64
	delays := make([]float64, 0, n)
	dropped := 0
	done := make(chan struct{})
	base := time.Now()

	go func() {
		for i := 0; i < warmup+n; i++ {
			s := <-c
			now := time.Since(base)
			if i >= warmup {
				if !oneP && s.tid == syscall.Gettid() {
					dropped++
				} else {
					delays = append(delays, float64(now-s.at)/1e3)
				}
			}
			atomic.StoreUint64(&received, uint64(i+1))
		}
		close(done)
	}()
	for i := 0; i < warmup+n; i++ {
		s := stamp{tid: syscall.Gettid()}
		s.at = time.Since(base)
		c <- s
		for atomic.LoadUint64(&received) < uint64(i+1) || time.Since(base) < s.at+gap {
			if oneP {
				runtime.Gosched()
			}
		}
	}
	<-done
	return delays, dropped
}

// sockPart starts the writer, reads its warmup+n stamps and returns the
// delays counted and how many stamps arrived with an earlier one.
func sockPart(n int) ([]float64, int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err, "listen")
	self, err := os.Executable()
	check(err, "os.Executable")
	cmd := exec.Command(self, "-n", strconv.Itoa(warmup+n))
	cmd.Env = append(os.Environ(), writerEnv+"="+ln.Addr().String())
	cmd.Stderr = os.Stderr
	check(cmd.Start(), "start the writer")
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(ioTimeout))
	conn, err := ln.Accept()
	check(err, "accept")
	ln.Close()

	clock := newMonoClock()
	delays := make([]float64, 0, n)
	coalesced, i := 0, 0
	buf := make([]byte, 4096)
	have := 0
	for {
		conn.SetReadDeadline(time.Now().Add(ioTimeout))
		m, err := conn.Read(buf[have:])
		now := clock.ns()
		if err == io.EOF {
			break
		}
		check(err, "read")
		have += m
		off := 0
		for ; have-off >= 8; off, i = off+8, i+1 {
			if off > 0 {
				coalesced++
			}
			at := int64(binary.LittleEndian.Uint64(buf[off:]))
			if i >= warmup && i-warmup < n {
				delays = append(delays, float64(now-at)/1e3)
			}
		}
		have = copy(buf, buf[off:have])
	}
	conn.Close()
	check(cmd.Wait(), "the writer")
	if i != warmup+n {
		fmt.Fprintf(os.Stderr, "wake_latency: %d stamps from the writer, want %d\n", i, warmup+n)
		os.Exit(1)
	}
	return delays, coalesced
}

// writer is the child process: dial addr and write n stamps gap apart.
func writer(addr string, n int) {
	runtime.GOMAXPROCS(1)
	conn, err := net.Dial("tcp", addr)
	check(err, "dial")
	clock := newMonoClock()
	var b [8]byte
	for i := 0; i < n; i++ {
		time.Sleep(gap)
		binary.LittleEndian.PutUint64(b[:], uint64(clock.ns()))
		_, err := conn.Write(b[:])
		check(err, "write")
	}
	conn.Close()
}

// percentile returns the p-th percentile (nearest rank) of sorted v.
func percentile(v []float64, p int) float64 {
	rank := (p*len(v) + 99) / 100
	if rank < 1 {
		rank = 1
	}
	return v[rank-1]
}

// report prints a part's two percentiles of sorted v as RESULT lines.
func report(part string, v []float64) {
	fmt.Printf("RESULT wake_%s_p50 %.2f us\n", part, percentile(v, 50))
	fmt.Printf("RESULT wake_%s_p99 %.2f us\n", part, percentile(v, 99))
}

func check(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "wake_latency: %s: %v\n", what, err)
		os.Exit(1)
	}
}

func main() {
	workers := flag.Int("w", 2, "worker threads (GOMAXPROCS)")
	n := flag.Int("n", 2000, "messages each part counts")
	flag.Parse()
	if *workers < 1 || *n < 1 || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: wake_latency [-w WORKERS] [-n SAMPLES]")
		os.Exit(2)
	}
	if addr := os.Getenv(writerEnv); addr != "" {
		writer(addr, *n)
		return
	}
	runtime.GOMAXPROCS(*workers)

	chanDelays, dropped := chanPart(*n, *workers == 1)
	sockDelays, coalesced := sockPart(*n)
	sort.Float64s(chanDelays)
	sort.Float64s(sockDelays)
	fmt.Fprintf(os.Stderr, "wake_latency: GOMAXPROCS %d; chan: %d counted, %d on the sender's thread; "+
		"sock: %d counted (fastest %.2f us), %d arrived with an earlier one\n",
		*workers, len(chanDelays), dropped, len(sockDelays), sockDelays[0], coalesced)
	if len(chanDelays) == 0 || len(chanDelays) < *n/10 {
		fmt.Fprintln(os.Stderr, "wake_latency: fewer than a tenth of the messages crossed threads")
		os.Exit(1)
	}
	report("chan", chanDelays)
	report("sock", sockDelays)
}
