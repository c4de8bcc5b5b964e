package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/storage"
)

// The running bot holds bbolt's exclusive file lock, so `firebreak backup`,
// `incidents` and `postmortem` cannot open the database beside it. Instead
// the bot serves those three reads on a unix socket next to the database
// file, readable only by its owner (0600), and the subcommands fall back to
// it when the file is locked. Nothing on the socket changes state.

// adminSocket is where the running bot listens for operator commands.
func adminSocket(db string) string { return db + ".sock" }

// adminServer serves the operator reads of a running bot.
type adminServer struct {
	db  *storage.DB
	svc *incidents.Service
	log *slog.Logger
}

func (a adminServer) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/backup", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		if _, err := a.db.Backup(r.Context(), w); err != nil {
			a.log.Error("backup over admin socket failed", "err", err)
		}
	})
	mux.HandleFunc("GET /v1/incidents", func(w http.ResponseWriter, r *http.Request) {
		list, err := a.svc.List(r.Context(), incidents.ListQuery{OpenOnly: r.URL.Query().Get("all") == ""})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(list)
	})
	mux.HandleFunc("GET /v1/postmortem/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseUint(r.PathValue("n"), 10, 64)
		if err != nil {
			http.Error(w, "incident number expected", http.StatusBadRequest)
			return
		}
		// Render to memory first so a failure becomes an error status, not
		// half a document.
		var buf limitedBuffer
		if err := a.svc.Postmortem(r.Context(), n, &buf); err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, incidents.ErrNotFound) {
				status = http.StatusNotFound
			}
			http.Error(w, err.Error(), status)
			return
		}
		w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
		_, _ = w.Write(buf.b)
	})
	return mux
}

// serveAdmin listens on the admin socket until ctx is done.
func (a adminServer) serve(ctx context.Context, path string) error {
	// We hold the database lock, so any socket file left here is stale.
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("admin socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("admin socket %s: %w", path, err)
	}
	srv := &http.Server{Handler: a.handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	err = srv.Serve(ln)
	_ = os.Remove(path)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// adminClient talks to a running bot over its socket.
type adminClient struct {
	http *http.Client
}

func newAdminClient(socket string) adminClient {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}
	return adminClient{http: &http.Client{Transport: tr, Timeout: 10 * time.Minute}}
}

// get fetches path and copies the body to w; non-200 answers become errors.
func (c adminClient) get(ctx context.Context, path string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://firebreak"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("the database is in use and the running bot did not answer on its admin socket: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("running bot: %s", string(trimNL(msg)))
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("reading from the running bot: %w", err)
	}
	return nil
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// limitedBuffer collects a rendered document, refusing absurd sizes.
type limitedBuffer struct{ b []byte }

const maxRendered = 256 << 20

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if len(l.b)+len(p) > maxRendered {
		return 0, errors.New("document larger than 256 MiB")
	}
	l.b = append(l.b, p...)
	return len(p), nil
}
