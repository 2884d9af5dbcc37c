// bigsite - a web site of N generated pages, each linked, that counts
// every request: the server of bench/bigcrawl.
//
// Usage: bigsite [-n PAGES] [-fanout K] [-addr HOST:PORT]
//
// Page i is /p/i, for i in 0..N-1; /p/0 is the start. Page i links to its
// K children /p/(K*i+1) .. /p/(K*i+K) (those below N), so every page is
// reachable from /p/0 within log_K(N) + 1 levels; and, so that a crawler's
// seen set is asked about URLs it already has, to its parent, to /p/0 and
// to one page chosen by i (/p/((i*7919+13) mod N)). Anything else is a 404
// and is counted apart.
//
// Once it listens it prints "listening on 127.0.0.1:PORT" on stdout.
// GET /stats answers with the counts as JSON: requests (to pages), pages
// (distinct pages requested), repeated (requests beyond the first to a
// page), missing (pages never requested), max (the most requests to one
// page), other (requests to anything else); GET /reset zeroes them. Neither
// is counted. It serves until killed.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

type site struct {
	n, fanout int
	hits      []uint32 // requests to each page, atomic
	other     uint64   // requests to anything else, atomic
}

func (s *site) page(w http.ResponseWriter, i int) {
	var b strings.Builder
	b.Grow(512)
	fmt.Fprintf(&b, "<!doctype html><html><head><title>page %d</title></head><body><h1>%d</h1><ul>\n", i, i)
	link := func(j int) { fmt.Fprintf(&b, "<li><a href=\"/p/%d\">page %d</a></li>\n", j, j) }
	for c := s.fanout*i + 1; c <= s.fanout*i+s.fanout && c < s.n; c++ {
		link(c)
	}
	if i > 0 {
		link((i - 1) / s.fanout)
	}
	link(0)
	link(int((int64(i)*7919 + 13) % int64(s.n)))
	b.WriteString("</ul></body></html>\n")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.Write([]byte(b.String()))
}

func (s *site) stats(w http.ResponseWriter) {
	var requests, pages, repeated, missing, max uint64
	for i := range s.hits {
		h := uint64(atomic.LoadUint32(&s.hits[i]))
		requests += h
		if h > 0 {
			pages++
			repeated += h - 1
		} else {
			missing++
		}
		if h > max {
			max = h
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]uint64{
		"requests": requests, "pages": pages, "repeated": repeated, "missing": missing,
		"max": max, "other": atomic.LoadUint64(&s.other),
	})
}

func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/stats":
		s.stats(w)
		return
	case r.URL.Path == "/reset":
		for i := range s.hits {
			atomic.StoreUint32(&s.hits[i], 0)
		}
		atomic.StoreUint64(&s.other, 0)
		return
	case strings.HasPrefix(r.URL.Path, "/p/"):
		i, err := strconv.Atoi(r.URL.Path[3:])
		if err == nil && i >= 0 && i < s.n && strconv.Itoa(i) == r.URL.Path[3:] {
			atomic.AddUint32(&s.hits[i], 1)
			s.page(w, i)
			return
		}
	}
	atomic.AddUint64(&s.other, 1)
	http.NotFound(w, r)
}

func main() {
	n := flag.Int("n", 1000000, "pages")
	fanout := flag.Int("fanout", 10, "links from a page to new pages")
	addr := flag.String("addr", "127.0.0.1:0", "where to listen")
	flag.Parse()
	if *n < 1 || *fanout < 1 {
		fmt.Fprintln(os.Stderr, "bigsite: -n and -fanout must be at least 1")
		os.Exit(2)
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bigsite:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", l.Addr())
	s := &site{n: *n, fanout: *fanout, hits: make([]uint32, *n)}
	fmt.Fprintln(os.Stderr, "bigsite:", http.Serve(l, s))
	os.Exit(1)
}
