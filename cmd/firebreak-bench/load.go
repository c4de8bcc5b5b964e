package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// loadResult is what the loader process prints (one JSON line).
type loadResult struct {
	Accepted  int64   `json:"accepted"`
	Requests  int64   `json:"requests"`
	Retries   int64   `json:"retries"`
	Failed    int64   `json:"failed"`
	Seconds   float64 `json:"seconds"`
	FirstRate float64 `json:"first_rate"`
	LastRate  float64 `json:"last_rate"`
	TimedOut  bool    `json:"timed_out"`
}

// load is the loader, run in a process of its own so its CPU and memory
// are not the measured tool's.
func load(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	target := fs.String("target", "firebreak", "firebreak or alertmanager")
	base := fs.String("url", "", "base URL (loopback); several, comma-separated, share the senders round-robin")
	token := fs.String("token", "", "Firebreak webhook token")
	shape := fs.String("shape", shapeOneGroup, "storm shape")
	per := fs.Int("per", 1, "alerts per request")
	total := fs.Int("alerts", 20000, "alerts to send")
	senders := fs.Int("senders", 16, "concurrent senders")
	maxTime := fs.Duration("max-time", time.Minute, "stop sending after this long")
	run := fs.String("run", "run", "run id, for idempotency keys")
	if err := fs.Parse(args); err != nil {
		return err
	}
	res, err := drive(ctx, loadConfig{target: *target, base: *base, token: *token, shape: *shape, per: *per,
		total: *total, senders: *senders, maxTime: *maxTime, run: *run})
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

type loadConfig struct {
	target, base, token, shape, run string
	per, total, senders             int
	maxTime                         time.Duration
}

func drive(ctx context.Context, c loadConfig) (loadResult, error) {
	ctx, cancel := context.WithTimeout(ctx, c.maxTime)
	defer cancel()
	type job struct{ seq, start, n int }
	jobs := make(chan job)
	go func() {
		defer close(jobs)
		for seq, start := 0, 0; start < c.total; seq++ {
			n := min(c.per, c.total-start)
			first := start
			if c.shape == shapeLarge {
				first = 0 // the same alerts in every request
			}
			select {
			case jobs <- job{seq, first, n}:
			case <-ctx.Done():
				return
			}
			start += n
		}
	}()
	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
		MaxIdleConnsPerHost: c.senders, MaxConnsPerHost: c.senders, DisableCompression: true}}
	window := int64(max(c.total/10, c.per*c.senders))
	marks := make([]time.Time, c.total/int(window)+2)
	var accepted, requests, retries, failed atomic.Int64
	var mu sync.Mutex
	start := time.Now()
	var wg sync.WaitGroup
	// Several base URLs (comma-separated: replicas behind a load
	// balancer) share the senders round-robin.
	bases := strings.Split(c.base, ",")
	for i := range c.senders {
		base := bases[i%len(bases)]
		wg.Go(func() {
			for j := range jobs {
				var body []byte
				url := base
				if c.target == "alertmanager" {
					body = alertmanagerBody(c.shape, j.start, j.n)
					url += "/api/v2/alerts"
				} else {
					body = firebreakBody(c.shape, j.start, j.n)
					url += "/alerts/alertmanager"
				}
				key := c.run + "-" + strconv.Itoa(j.seq)
				ok, tries := send(ctx, client, url, c, key, body)
				requests.Add(int64(tries))
				retries.Add(int64(tries - 1))
				if !ok {
					failed.Add(int64(j.n))
					continue
				}
				before := accepted.Load()
				after := accepted.Add(int64(j.n))
				if before/window != after/window {
					now := time.Now()
					mu.Lock()
					for k := before/window + 1; k <= after/window && int(k) < len(marks); k++ {
						marks[k] = now
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	res := loadResult{Accepted: accepted.Load(), Requests: requests.Load(), Retries: retries.Load(),
		Failed: failed.Load(), Seconds: elapsed.Seconds(), TimedOut: ctx.Err() != nil}
	marks[0] = start
	full := int(res.Accepted / window)
	if full >= 1 && int(full) < len(marks) {
		res.FirstRate = float64(window) / marks[1].Sub(marks[0]).Seconds()
		res.LastRate = float64(window) / marks[full].Sub(marks[full-1]).Seconds()
	}
	return res, nil
}

// send posts one request until it is accepted (2xx), retrying 429 and 503
// after their Retry-After (1 s when absent) while ctx lasts. It reports
// whether the request was accepted and how many attempts it took.
func send(ctx context.Context, client *http.Client, url string, c loadConfig, key string, body []byte) (bool, int) {
	for tries := 1; ; tries++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return false, tries
		}
		req.Header.Set("Content-Type", "application/json")
		if c.target == "firebreak" {
			req.Header.Set("Authorization", "Bearer "+c.token)
			// One delivery, one key: a retry of it is recognised as such,
			// and identical repeats are distinct deliveries.
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return false, tries
			}
			if !sleep(ctx, 100*time.Millisecond) {
				return false, tries
			}
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		switch {
		case resp.StatusCode/100 == 2:
			return true, tries
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
			wait := time.Second
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
				wait = time.Duration(s) * time.Second
			}
			if !sleep(ctx, wait) {
				return false, tries
			}
		default:
			fmt.Fprintf(os.Stderr, "loader: %s answered %d\n", url, resp.StatusCode)
			return false, tries
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

var errNoResult = errors.New("the loader printed no result")
