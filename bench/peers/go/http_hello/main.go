// Command http_hello is the Go twin of bench/http_hello.c: an HTTP server
// on 127.0.0.1, built on net/http, that answers every request with
// "Hello, World!".
//
// Usage: http_hello [-w WORKERS] [-p PORT]
//
// PORT 0 (the default) takes any free port. Once it listens, the server
// prints "PORT <n>" on stdout and serves until it is killed. There is no
// RESULT line; the load comes from wrk.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
)

// hello answers every request, whatever its method or path.
func hello(w http.ResponseWriter, r *http.Request) {
	w.Write([]byte("Hello, World!"))
}

func main() {
	workers := flag.Int("w", 2, "worker threads (GOMAXPROCS)")
	port := flag.Int("p", 0, "TCP port on 127.0.0.1 (0: any free port)")
	flag.Parse()
	if *workers < 1 || *port < 0 || *port > 65535 || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: http_hello [-w WORKERS] [-p PORT]")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*workers)

	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "http_hello:", err)
		os.Exit(1)
	}
	bound := ln.Addr().(*net.TCPAddr).Port
	fmt.Printf("PORT %d\n", bound)
	fmt.Fprintf(os.Stderr, "http_hello: listening on 127.0.0.1:%d with GOMAXPROCS %d\n", bound, *workers)
	err = http.Serve(ln, http.HandlerFunc(hello))
	fmt.Fprintln(os.Stderr, "http_hello:", err)
	os.Exit(1)
}
