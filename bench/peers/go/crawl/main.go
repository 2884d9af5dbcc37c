// Command crawl is the Go twin of weft's examples/fetch: a web crawler that
// keeps C requests in flight, follows links to a depth limit on the hosts
// it starts on, and writes one JSON record per URL it requested.
//
// Usage:
//
//	crawl [-c CONC] [-d DEPTH] [-w WORKERS] [-o FILE] [-t MS] [-per-host N]
//	      [-ca-file FILE] [-no-compression] URL...
//
// C goroutines (-c, default 64) take URLs from one FIFO frontier. A start
// URL has depth 0; the links on a page of depth d have depth d+1 and are
// requested only when d+1 <= DEPTH (-d, default 50). Redirects (301, 302,
// 303, 307, 308) are not followed by the client: their Location is queued
// as a link of the same depth. URLs are resolved with net/url, their host
// lower-cased, a default port and the fragment dropped, and each is
// requested at most once. Only http: and https: URLs on a start URL's host
// are followed: the host by name, as fetch does, so another port or scheme
// of it counts (an http: link on an https: site is followed, and so is an
// https: redirect from an http: one).
// Only text/html bodies of 2xx responses are scanned, for the href and src
// of a, link, area, frame and iframe tags, skipping comments and the
// contents of script and style elements.
//
// Each request gives one line of JSON on FILE (-o, default "-", stdout):
//
//	{"url":"http://h/p","status":200,"bytes":N,"ms":N,"depth":N,"links":N}
//
// with "redirect" on a 3xx, "tls" (the protocol, named as OpenSSL names it:
// "TLSv1.3") for https:, and "error" (and status 0) on a failure. "bytes"
// counts the body decoded. At the end a summary goes to stderr:
//
//	fetched N pages (E errors), B bytes in S s, R pages/s
//
// The http.Transport keeps connections alive and opens at most -per-host
// (default: as many as -c) connections to one host. -t is the timeout of
// one request in ms (default 10000); -w sets GOMAXPROCS (default 2).
//
// https: speaks HTTP/1.1 over crypto/tls (the Transport has its own
// TLSClientConfig, so net/http does not try HTTP/2, as fetch does not),
// verifies the server's certificate and name against the system's roots
// and, with -ca-file, the PEM certificates in FILE too, and keeps the
// session tickets it gets in an LRU cache so that a new connection resumes
// a session, as fetch does.
//
// Bodies are asked for gzip-compressed, as fetch asks by default: net/http
// adds "Accept-Encoding: gzip" and decodes the answer transparently (it
// asks for gzip only, where fetch asks for gzip, deflate and br).
// -no-compression sends no Accept-Encoding, so bodies come as they are.
//
// The exit status is 0 when the crawl ran, even if requests failed; 2 on
// bad arguments or an unreadable -ca-file; 1 when the output cannot be
// written.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
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
	TLS      string `json:"tls,omitempty"`
	Error    string `json:"error,omitempty"`
}

// crawler is the shared state of one crawl.
type crawler struct {
	client   *http.Client
	maxDepth int
	hosts    map[string]bool // host names of the start URLs; read-only once running

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

// follows reports whether u is a URL the crawl may request: http or https,
// on a start URL's host by name (any port or scheme of it, as in fetch).
func (c *crawler) follows(u *url.URL) bool {
	return (u.Scheme == "http" || u.Scheme == "https") && c.hosts[u.Hostname()]
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
	if resp.TLS != nil {
		r.TLS = tlsVersion(resp.TLS.Version)
	}
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

// tlsVersion names a TLS protocol version as OpenSSL's SSL_get_version
// does, which fetch writes.
func tlsVersion(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return fmt.Sprintf("0x%04x", v)
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

// tlsConfig returns the client's TLS configuration: the system's roots
// plus the PEM certificates in caFile when it is not empty, verification
// on, and a session cache so that new connections resume sessions.
func tlsConfig(caFile string, sessions int) (*tls.Config, error) {
	cfg := &tls.Config{ClientSessionCache: tls.NewLRUClientSessionCache(sessions)}
	if caFile == "" {
		return cfg, nil // nil RootCAs: the system's roots
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", caFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

func newClient(perHost int, timeout time.Duration, tlsCfg *tls.Config, compress bool) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tlsCfg,
		TLSHandshakeTimeout: timeout,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: perHost,
		MaxConnsPerHost:     perHost,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  !compress,
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
	fmt.Fprintln(os.Stderr, "usage: crawl [-c CONC] [-d DEPTH] [-w WORKERS] [-o FILE] [-t MS] [-per-host N]\n"+
		"             [-ca-file FILE] [-no-compression] URL...")
	os.Exit(2)
}

func main() {
	conc := flag.Int("c", 64, "requests in flight")
	depth := flag.Int("d", 50, "depth limit")
	workers := flag.Int("w", 2, "worker threads (GOMAXPROCS)")
	outPath := flag.String("o", "-", "records file ('-': stdout)")
	timeoutMs := flag.Int("t", 10000, "timeout of one request, ms")
	perHost := flag.Int("per-host", 0, "connections per host (0: as many as -c)")
	caFile := flag.String("ca-file", "", "https: also trust the PEM certificates in FILE")
	noCompression := flag.Bool("no-compression", false, "send no Accept-Encoding: bodies as they are")
	flag.Usage = usage
	flag.Parse()
	if *conc < 1 || *depth < 0 || *workers < 1 || *timeoutMs < 1 || *perHost < 0 || flag.NArg() == 0 {
		usage()
	}
	if *perHost == 0 {
		*perHost = *conc
	}
	runtime.GOMAXPROCS(*workers)
	tlsCfg, err := tlsConfig(*caFile, 2*(*perHost))
	if err != nil {
		fmt.Fprintln(os.Stderr, "crawl:", err)
		os.Exit(2)
	}

	c := &crawler{
		client:   newClient(*perHost, time.Duration(*timeoutMs)*time.Millisecond, tlsCfg, !*noCompression),
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
		c.hosts[u.Hostname()] = true
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
