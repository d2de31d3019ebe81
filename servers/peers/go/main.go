// peer_go: the Go peer (servers/peers/README.md, "go"). A goroutine per
// connection on GOMAXPROCS = -workers threads, standard library only.
//
//	peer_go -proto echo|http -host HOST -port PORT -root DIR -workers N
//	peer_go -version
//
// Run by servers/peers/go/serve, which checks the arguments first.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"runtime"
	"syscall"
)

// echo copies with a plain Read/Write loop: io.Copy between two TCP
// connections would splice through a pipe (two more descriptors each).
func echo(conn net.Conn) {
	defer conn.Close()
	buf := make([]byte, 16<<10)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			if _, werr := conn.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func serveEcho(ln net.Listener) error {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			return err
		}
		go echo(conn)
	}
}

// fileHandler serves files under root with http.ServeContent (the core of
// http.FileServer without its directory listings and index redirects); a
// missing file or a folder is a 404 with an empty body.
type fileHandler struct{ root string }

func (h fileHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	name := filepath.Join(h.root, filepath.FromSlash(path.Clean("/"+r.URL.Path)))
	f, err := os.Open(name)
	if err == nil {
		defer f.Close()
		if st, serr := f.Stat(); serr == nil && st.Mode().IsRegular() {
			http.ServeContent(w, r, st.Name(), st.ModTime(), f)
			return
		}
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusNotFound)
}

func main() {
	proto := flag.String("proto", "echo", "echo or http")
	host := flag.String("host", "127.0.0.1", "address to listen on")
	port := flag.Int("port", 0, "port (0: any free one)")
	root := flag.String("root", ".", "document root (http)")
	workers := flag.Int("workers", 1, "GOMAXPROCS")
	version := flag.Bool("version", false, "print the Go version it was built with")
	flag.Parse()
	if *version {
		fmt.Println("peer_go built with", runtime.Version())
		return
	}
	runtime.GOMAXPROCS(*workers)

	ln, err := net.Listen("tcp", net.JoinHostPort(*host, fmt.Sprint(*port)))
	if err != nil {
		fmt.Fprintf(os.Stderr, "peer_go: %v\n", err)
		os.Exit(1)
	}
	bound := ln.Addr().(*net.TCPAddr).Port
	fmt.Printf("listening %s:%d model=peer:go proto=%s pid=%d\n", *host, bound, *proto, os.Getpid())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan error, 1)
	var srv *http.Server
	if *proto == "http" {
		srv = &http.Server{Handler: fileHandler{*root}}
		go func() { done <- srv.Serve(ln) }()
	} else {
		go func() { done <- serveEcho(ln) }()
	}
	select {
	case <-stop:
		// Every connection ends with the process; nothing to flush.
		ln.Close()
		os.Exit(0)
	case err := <-done:
		if srv != nil && errors.Is(err, http.ErrServerClosed) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "peer_go: %v\n", err)
		os.Exit(1)
	}
}
