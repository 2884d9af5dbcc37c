// Command echo_server is the Go twin of bench/echo_server.c: a TCP echo
// server on 127.0.0.1 with one goroutine per connection, each sending back
// whatever it receives until the peer closes its side.
//
// Usage: echo_server [-w WORKERS] [-p PORT]
//
// PORT 0 (the default) takes any free port. Once it listens, the server
// prints "PORT <n>" on stdout and serves until it is killed. There is no
// RESULT line; the load and the figure come from echo_client.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"time"
)

// bufSize matches the weft server's receive buffer; a request of the
// benchmark is 64 bytes.
const bufSize = 4096

// serveConn echoes everything the peer sends until it closes, then closes
// the connection. Errors (a reset, say) end the connection quietly.
func serveConn(c net.Conn) {
	defer c.Close()
	buf := make([]byte, bufSize)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// acceptLoop gives each connection its own goroutine, for ever. Temporary
// failures, such as running out of descriptors, are waited out.
func acceptLoop(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Temporary() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			fmt.Fprintln(os.Stderr, "echo_server:", err)
			os.Exit(1)
		}
		go serveConn(c)
	}
}

func main() {
	workers := flag.Int("w", 2, "worker threads (GOMAXPROCS)")
	port := flag.Int("p", 0, "TCP port on 127.0.0.1 (0: any free port)")
	flag.Parse()
	if *workers < 1 || *port < 0 || *port > 65535 || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: echo_server [-w WORKERS] [-p PORT]")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*workers)

	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo_server:", err)
		os.Exit(1)
	}
	bound := ln.Addr().(*net.TCPAddr).Port
	fmt.Printf("PORT %d\n", bound)
	fmt.Fprintf(os.Stderr, "echo_server: listening on 127.0.0.1:%d with GOMAXPROCS %d\n", bound, *workers)
	acceptLoop(ln)
}
