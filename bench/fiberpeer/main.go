// Command fiberpeer is the baseline of SPEC 8's second target: a bare Fiber
// handler serving, for every GET, the bytes the gateway answered once.
//
// At start it GETs -from (a gateway /v1/search URL), keeps the body and its
// Content-Type, and then serves exactly those bytes on -addr with Fiber's
// default configuration and no middleware. The gateway's cached /v1/search
// must reach at least 90% of this program's requests per second.
//
//	go run ./bench/fiberpeer -from 'http://127.0.0.1:8080/v1/search?q=history' -addr 127.0.0.1:8090
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fiberpeer:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fiberpeer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "URL whose answer is served (required)")
	addr := fs.String("addr", "127.0.0.1:8090", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from == "" {
		return errors.New("-from is required")
	}
	body, ctype, err := fetch(ctx, *from)
	if err != nil {
		return err
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/*", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, ctype)
		return c.Send(body)
	})
	errc := make(chan error, 1)
	go func() { errc <- app.Listen(*addr) }()
	fmt.Fprintf(stdout, "fiberpeer serving %d bytes (%s) on http://%s\n", len(body), ctype, *addr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return app.ShutdownWithTimeout(5 * time.Second)
	}
}

// fetch GETs url once and returns the body and its Content-Type.
func fetch(ctx context.Context, url string) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, "", fmt.Errorf("reading %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("%s answered %d", url, resp.StatusCode)
	}
	return body, resp.Header.Get("Content-Type"), nil
}
