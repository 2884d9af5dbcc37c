// Command echo_client is the load generator of the echo benchmark, used
// against both bench/echo_server.c and its Go twin. It opens C connections
// to ADDR; each sends an S-byte message, waits for all S bytes to come back
// and checks them, and repeats, so every connection has one request in
// flight. After the duration it prints the completed requests per second.
//
// Usage: echo_client -addr HOST:PORT [-c CONNS] [-s SIZE] [-d DURATION] [-procs N]
//
// The client runs with GOMAXPROCS 1 unless -procs says otherwise: on a
// two-core machine a client on both cores would starve the server it
// measures. Connecting is not timed. An echo that differs from what was
// sent, or a connection that fails or stalls for 10 s, ends the client
// with status 1. Prints "RESULT echo <requests per second> req/s".
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// stallLimit is how long one request may take before the run is declared
// broken.
const stallLimit = 10 * time.Second

// fail reports a broken run and ends the process.
func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "echo_client: "+format+"\n", args...)
	os.Exit(1)
}

// dialAll opens n connections to addr, or ends the process when one fails.
func dialAll(addr string, n int) []net.Conn {
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.DialTimeout("tcp", addr, stallLimit)
		if err != nil {
			fail("connection %d: %v", i, err)
		}
		conns[i] = c
	}
	return conns
}

// message returns the size-byte message of connection id: printable bytes
// that differ between connections, so a crossed echo is caught.
func message(id, size int) []byte {
	msg := make([]byte, size)
	for i := range msg {
		msg[i] = byte('a' + (id+i)%26)
	}
	return msg
}

// pingPong sends msg on c and waits for it to come back, until stop is
// set; it returns the number of requests completed before then.
func pingPong(c net.Conn, id int, msg []byte, stop *int32) int64 {
	reply := make([]byte, len(msg))
	var done int64
	for atomic.LoadInt32(stop) == 0 {
		c.SetDeadline(time.Now().Add(stallLimit))
		if _, err := c.Write(msg); err != nil {
			fail("connection %d: write: %v", id, err)
		}
		if _, err := io.ReadFull(c, reply); err != nil {
			fail("connection %d: read: %v", id, err)
		}
		if !bytes.Equal(reply, msg) {
			fail("connection %d: the echo differs from the message: %q", id, reply)
		}
		done++
	}
	return done
}

// run drives every connection for the duration d and returns the requests
// completed and the time they took.
func run(conns []net.Conn, size int, d time.Duration) (int64, time.Duration) {
	var stop int32
	var total int64
	var wg sync.WaitGroup
	wg.Add(len(conns))
	start := time.Now()
	for i, c := range conns {
		go func(id int, c net.Conn) {
			defer wg.Done()
			atomic.AddInt64(&total, pingPong(c, id, message(id, size), &stop))
		}(i, c)
	}
	time.Sleep(d)
	atomic.StoreInt32(&stop, 1)
	wg.Wait()
	return total, time.Since(start)
}

func main() {
	addr := flag.String("addr", "", "server address, HOST:PORT")
	conns := flag.Int("c", 64, "connections")
	size := flag.Int("s", 64, "message size in bytes")
	dur := flag.Duration("d", 5*time.Second, "how long to send requests")
	procs := flag.Int("procs", 1, "GOMAXPROCS of the client")
	flag.Parse()
	if *addr == "" || *conns < 1 || *size < 1 || *dur <= 0 || *procs < 1 || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: echo_client -addr HOST:PORT [-c CONNS] [-s SIZE] [-d DURATION] [-procs N]")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*procs)

	cs := dialAll(*addr, *conns)
	requests, elapsed := run(cs, *size, *dur)
	for _, c := range cs {
		c.Close()
	}
	rate := float64(requests) / elapsed.Seconds()
	fmt.Fprintf(os.Stderr, "echo_client: %d requests of %d bytes on %d connections in %v\n",
		requests, *size, *conns, elapsed)
	fmt.Printf("RESULT echo %.0f req/s\n", rate)
}
