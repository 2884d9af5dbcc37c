// Command crawl is the Go twin of weft's examples/fetch: a web crawler that
// keeps C requests in flight, follows links to a depth limit on the hosts
// it starts on, and writes one JSON record per URL it requested.
//
// Usage: crawl [-c CONC] [-d DEPTH] [-w WORKERS] [-o FILE] [-t MS] [-per-host N] URL...
//
// C goroutines (-c, default 64) take URLs from one FIFO frontier. A start
// URL has depth 0; the links on a page of depth d have depth d+1 and are
// requested only when d+1 <= DEPTH (-d, default 50). Redirects (301, 302,
// 303, 307, 308) are not followed by the client: their Location is queued
// as a link of the same depth. URLs are resolved with net/url, their host
// lower-cased, a default port and the fragment dropped, and each is
// requested at most once. Only URLs on a start URL's host are followed.
// Only text/html bodies of 2xx responses are scanned, for the href and src
// of a, link, area, frame and iframe tags, skipping comments and the
// contents of script and style elements.
//
// Each request gives one line of JSON on FILE (-o, default "-", stdout):
//
//	{"url":"http://h/p","status":200,"bytes":N,"ms":N,"depth":N,"links":N}
//
// with "redirect" on a 3xx and "error" (and status 0) on a failure. At the
// end a summary goes to stderr:
//
//	fetched N pages (E errors), B bytes in S s, R pages/s
//
// The http.Transport keeps connections alive and opens at most -per-host
// (default: as many as -c) connections to one host. -t is the timeout of
// one request in ms (default 10000); -w sets GOMAXPROCS (default 2). The
// exit status is 0 when the crawl ran, even if requests failed; 2 on bad
// arguments; 1 when the output cannot be written.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"
)

// maxBody is the most of one body that is read; the rest is dropped.
const maxBody = 16 << 20

// job is one URL of the frontier with its depth.
type job struct {
	url   *url.URL
	depth int
}

// record is the JSON line written for one request.
type record struct {
	URL      string `json:"url"`
	Status   int    `json:"status"`
	Bytes    int    `json:"bytes"`
	Ms       int64  `json:"ms"`
	Depth    int    `json:"depth"`
	Links    int    `json:"links"`
	Redirect string `json:"redirect,omitempty"`
	Error    string `json:"error,omitempty"`
}

// crawler is the shared state of one crawl.
type crawler struct {
	client   *http.Client
	maxDepth int
	hosts    map[string]bool // hosts of the start URLs; read-only once running

	mu     sync.Mutex // guards the fields below
	wake   *sync.Cond // signalled when the frontier grows or the crawl ends
	queue  []job      // the frontier, FIFO from head
	head   int
	seen   map[string]bool // every URL ever queued
	active int             // jobs taken and not yet finished

	outMu  sync.Mutex // guards out and the totals
	out    *bufio.Writer
	pages  int
	errors int
	bytes  int64
}

// normalise lower-cases u's scheme and host, drops a default port and the
// fragment, and makes an empty path "/".
func normalise(u *url.URL) {
	u.Scheme = strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Host)
	if (u.Scheme == "http" && strings.HasSuffix(host, ":80")) ||
		(u.Scheme == "https" && strings.HasSuffix(host, ":443")) {
		host = host[:strings.LastIndexByte(host, ':')]
	}
	u.Host = host
	u.Fragment, u.RawFragment = "", ""
	if u.Path == "" {
		u.Path, u.RawPath = "/", ""
	}
}

// follows reports whether u is a URL the crawl may request.
func (c *crawler) follows(u *url.URL) bool {
	return (u.Scheme == "http" || u.Scheme == "https") && c.hosts[u.Host]
}

// push queues the URLs not seen before at depth. Takes c.mu.
func (c *crawler) push(urls []*url.URL, depth int) {
	c.mu.Lock()
	added := 0
	for _, u := range urls {
		key := u.String()
		if c.seen[key] {
			continue
		}
		c.seen[key] = true
		c.queue = append(c.queue, job{u, depth})
		added++
	}
	c.mu.Unlock()
	if added == 1 {
		c.wake.Signal()
	} else if added > 1 {
		c.wake.Broadcast()
	}
}

// next takes the oldest job, waiting while the frontier is empty but
// running jobs may still add to it. It returns false when the crawl is done.
func (c *crawler) next() (job, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.head == len(c.queue) && c.active > 0 {
		c.wake.Wait()
	}
	if c.head == len(c.queue) {
		return job{}, false
	}
	j := c.queue[c.head]
	c.queue[c.head] = job{}
	c.head++
	if c.head > 4096 && c.head*2 > len(c.queue) {
		c.queue = append([]job(nil), c.queue[c.head:]...)
		c.head = 0
	}
	c.active++
	return j, true
}

// done marks a job finished and wakes everyone when the crawl is over.
func (c *crawler) done() {
	c.mu.Lock()
	c.active--
	over := c.active == 0 && c.head == len(c.queue)
	c.mu.Unlock()
	if over {
		c.wake.Broadcast()
	}
}

// emit writes one record and adds it to the totals.
func (c *crawler) emit(r *record) {
	line, _ := json.Marshal(r)
	c.outMu.Lock()
	c.out.Write(line)
	c.out.WriteByte('\n')
	c.pages++
	c.bytes += int64(r.Bytes)
	if r.Error != "" {
		c.errors++
	}
	c.outMu.Unlock()
}

// visit requests one URL, records it and queues what it leads to.
func (c *crawler) visit(j job) {
	start := time.Now()
	r := record{URL: j.url.String(), Depth: j.depth}
	resp, err := c.client.Get(r.URL)
	if err != nil {
		r.Error = err.Error()
		r.Ms = time.Since(start).Milliseconds()
		c.emit(&r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	r.Status, r.Bytes = resp.StatusCode, len(body)
	r.Ms = time.Since(start).Milliseconds()
	if err != nil {
		r.Error = err.Error()
	}
	switch {
	case isRedirect(resp.StatusCode):
		if loc, err := resp.Location(); err == nil {
			normalise(loc)
			r.Redirect = loc.String()
			if c.follows(loc) {
				c.push([]*url.URL{loc}, j.depth)
			}
		}
	case resp.StatusCode/100 == 2 && isHTML(resp.Header.Get("Content-Type")):
		hrefs := scanLinks(body, nil)
		r.Links = len(hrefs)
		if j.depth < c.maxDepth {
			c.push(c.resolve(j.url, hrefs), j.depth+1)
		}
	}
	c.emit(&r)
}

// resolve returns the followable URLs among hrefs, resolved against base.
func (c *crawler) resolve(base *url.URL, hrefs []string) []*url.URL {
	urls := make([]*url.URL, 0, len(hrefs))
	for _, h := range hrefs {
		ref, err := url.Parse(strings.TrimSpace(h))
		if err != nil {
			continue
		}
		u := base.ResolveReference(ref)
		normalise(u)
		if c.follows(u) {
			urls = append(urls, u)
		}
	}
	return urls
}

func isRedirect(status int) bool {
	switch status {
	case 301, 302, 303, 307, 308:
		return true
	}
	return false
}

func isHTML(contentType string) bool {
	mt := strings.TrimSpace(strings.ToLower(strings.SplitN(contentType, ";", 2)[0]))
	return mt == "text/html"
}

// linkTags are the elements whose href and src are links.
var linkTags = map[string]bool{"a": true, "link": true, "area": true, "frame": true, "iframe": true}

// scanLinks appends to dst the href and src values of the link elements in
// page, with character references decoded. It skips comments and the
// contents of script and style elements.
func scanLinks(page []byte, dst []string) []string {
	i := 0
	for {
		k := bytes.IndexByte(page[i:], '<')
		if k < 0 {
			return dst
		}
		i += k + 1
		if bytes.HasPrefix(page[i:], []byte("!--")) {
			end := bytes.Index(page[i+3:], []byte("-->"))
			if end < 0 {
				return dst
			}
			i += 3 + end + 3
			continue
		}
		name, n := word(page[i:])
		if name == "" {
			continue
		}
		i += n
		var end int
		dst, end = scanAttrs(page[i:], linkTags[name], dst)
		i += end
		if name == "script" || name == "style" {
			i += skipRawText(page[i:], name)
		}
	}
}

// word returns the lower-cased tag or attribute name at the start of b and
// its length.
func word(b []byte) (string, int) {
	n := 0
	for n < len(b) {
		ch := b[n]
		if ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' ||
			ch == '/' || ch == '>' || ch == '=' || (n == 0 && !isLetter(ch)) {
			break
		}
		n++
	}
	return strings.ToLower(string(b[:n])), n
}

func isLetter(ch byte) bool {
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
}

func isSpace(ch byte) bool {
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f'
}

// scanAttrs reads the attributes of a start tag up to its '>', appending
// href and src values to dst when keep is set. It returns dst and the
// length read.
func scanAttrs(b []byte, keep bool, dst []string) ([]string, int) {
	i := 0
	for i < len(b) {
		for i < len(b) && (isSpace(b[i]) || b[i] == '/') {
			i++
		}
		if i >= len(b) || b[i] == '>' {
			return dst, i + 1
		}
		start := i
		for i < len(b) && !isSpace(b[i]) && b[i] != '/' && b[i] != '>' && b[i] != '=' {
			i++
		}
		if i == start {
			i++ // a stray '=': skip it
			continue
		}
		name := strings.ToLower(string(b[start:i]))
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if i >= len(b) || b[i] != '=' {
			continue
		}
		i++
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		var value []byte
		if i < len(b) && (b[i] == '"' || b[i] == '\'') {
			q := b[i]
			end := bytes.IndexByte(b[i+1:], q)
			if end < 0 {
				return dst, len(b)
			}
			value = b[i+1 : i+1+end]
			i += end + 2
		} else {
			start = i
			for i < len(b) && !isSpace(b[i]) && b[i] != '>' {
				i++
			}
			value = b[start:i]
		}
		if keep && (name == "href" || name == "src") {
			dst = append(dst, html.UnescapeString(string(value)))
		}
	}
	return dst, len(b)
}

// skipRawText returns the length of b up to and including the end tag of
// the raw-text element name, or len(b) when there is none.
func skipRawText(b []byte, name string) int {
	i := 0
	for {
		k := bytes.Index(b[i:], []byte("</"))
		if k < 0 {
			return len(b)
		}
		i += k + 2
		if len(b)-i >= len(name) && strings.EqualFold(string(b[i:i+len(name)]), name) {
			end := bytes.IndexByte(b[i:], '>')
			if end < 0 {
				return len(b)
			}
			return i + end + 1
		}
	}
}

func newClient(perHost int, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: perHost,
		MaxConnsPerHost:     perHost,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: crawl [-c CONC] [-d DEPTH] [-w WORKERS] [-o FILE] [-t MS] [-per-host N] URL...")
	os.Exit(2)
}

func main() {
	conc := flag.Int("c", 64, "requests in flight")
	depth := flag.Int("d", 50, "depth limit")
	workers := flag.Int("w", 2, "worker threads (GOMAXPROCS)")
	outPath := flag.String("o", "-", "records file ('-': stdout)")
	timeoutMs := flag.Int("t", 10000, "timeout of one request, ms")
	perHost := flag.Int("per-host", 0, "connections per host (0: as many as -c)")
	flag.Usage = usage
	flag.Parse()
	if *conc < 1 || *depth < 0 || *workers < 1 || *timeoutMs < 1 || *perHost < 0 || flag.NArg() == 0 {
		usage()
	}
	if *perHost == 0 {
		*perHost = *conc
	}
	runtime.GOMAXPROCS(*workers)

	c := &crawler{
		client:   newClient(*perHost, time.Duration(*timeoutMs)*time.Millisecond),
		maxDepth: *depth,
		hosts:    map[string]bool{},
		seen:     map[string]bool{},
	}
	c.wake = sync.NewCond(&c.mu)
	var starts []*url.URL
	for _, arg := range flag.Args() {
		u, err := url.Parse(arg)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			fmt.Fprintf(os.Stderr, "crawl: not an http URL: %s\n", arg)
			os.Exit(2)
		}
		normalise(u)
		c.hosts[u.Host] = true
		starts = append(starts, u)
	}

	out := os.Stdout
	if *outPath != "-" {
		f, err := os.Create(*outPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, "crawl:", err)
			os.Exit(1)
		}
		out = f
	}
	c.out = bufio.NewWriterSize(out, 64<<10)

	begin := time.Now()
	c.push(starts, 0)
	var wg sync.WaitGroup
	for i := 0; i < *conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j, ok := c.next()
				if !ok {
					return
				}
				c.visit(j)
				c.done()
			}
		}()
	}
	wg.Wait()
	secs := time.Since(begin).Seconds()

	if err := c.out.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "crawl:", err)
		os.Exit(1)
	}
	if err := out.Close(); err != nil && out != os.Stdout {
		fmt.Fprintln(os.Stderr, "crawl:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "fetched %d pages (%d errors), %d bytes in %.2f s, %.1f pages/s\n",
		c.pages, c.errors, c.bytes, secs, float64(c.pages)/secs)
}
