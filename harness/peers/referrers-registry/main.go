// Command referrers-registry serves an in-memory OCI registry that has the OCI 1.1
// referrers API (go-containerregistry's pkg/registry with referrers support), so the
// tests can exercise the gateway's referrers-API path against a real implementation
// instead of a stand-in. It listens on 127.0.0.1 only and prints its address
// ("127.0.0.1:PORT") on the first line of stdout once it accepts connections.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	port := flag.Int("port", 0, "TCP port on 127.0.0.1 (0 picks a free one)")
	verbose := flag.Bool("v", false, "log every request to stderr")
	flag.Parse()

	logger := log.New(io.Discard, "", 0)
	if *verbose {
		logger = log.New(os.Stderr, "referrers-registry ", log.LstdFlags)
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().String())
	server := &http.Server{
		Handler:           registry.New(registry.WithReferrersSupport(true), registry.Logger(logger)),
		ReadHeaderTimeout: 10 * time.Second,
	}
	if err := server.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
