package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/firebreak/firebreak/automation"
	"github.com/firebreak/firebreak/bot"
	"github.com/firebreak/firebreak/bot/actions"
	"github.com/firebreak/firebreak/bot/console"
	discordbot "github.com/firebreak/firebreak/bot/discord"
	"github.com/firebreak/firebreak/bot/metrics"
	"github.com/firebreak/firebreak/bot/outbox"
	"github.com/firebreak/firebreak/bot/probe"
	slackbot "github.com/firebreak/firebreak/bot/slack"
	"github.com/firebreak/firebreak/bot/web"
	"github.com/firebreak/firebreak/bot/webhook"
	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/intake"
)

// shutdownGrace bounds how long a stopping bot waits for in-flight work.
const shutdownGrace = 10 * time.Second

// defaultListen is the alert receiver's address when a chat platform is
// configured (or -headless) and FIREBREAK_LISTEN is not set.
const defaultListen = "127.0.0.1:9095"

// serve runs the bot until ctx is done, the console reaches end of input,
// or a component fails.
func serve(ctx context.Context, args []string, env environ) error {
	fs := newFlagSet("serve", env)
	withConsole := fs.Bool("console", false, "run the console chat even when Slack or Discord is configured")
	headless := fs.Bool("headless", false, "no console: alert intake (webhooks, probes) and configured chat platforms only")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}

	slackCfg, slackOn, err := slackbot.ConfigFromEnv(env.getenv)
	if err != nil {
		return err
	}
	discordCfg, discordOn, err := discordbot.ConfigFromEnv(env.getenv)
	if err != nil {
		return err
	}
	consoleOn := (*withConsole || (!slackOn && !discordOn)) && !*headless
	log := logger(env, consoleOn)

	cfg, err := loadConfig(configPath(env), env.getenv("FIREBREAK_CONFIG") != "")
	if err != nil {
		return err
	}
	if cfg.Path == "" {
		log.Info("no playbooks file found; using the built-in default playbooks", "looked_for", configPath(env))
	}

	path := dbPath(env)
	db, err := openServeStore(ctx, env, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := db.Close(); err != nil {
			log.Error("closing the store", "store", db.describe(), "err", err)
		}
	}()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	m.SetOpenIncidents(openIncidentsGauge(db))

	svcOpts := []incidents.Option{incidents.WithLogger(log)}
	if env.now != nil {
		svcOpts = append(svcOpts, incidents.WithClock(env.now))
	}
	// Intents record what they say (effects) with their change; the
	// outbox worker below is the one place that posts them.
	intentStore, box := effectsStore(db)
	svc := incidents.NewService(intentStore, cfg, svcOpts...)
	webCfg, webOn, err := web.ConfigFromEnv(env.getenv)
	if err != nil {
		return err
	}
	acts := actions.New(actions.Options{Getenv: env.getenv, AllowCommands: cfg.AllowCommands, Logger: log})
	tracker, err := newTracker(cfg, svc, env.getenv, log)
	if err != nil {
		return err
	}
	// Every alert enters through intake: webhooks, probes, and the alert
	// messages the router reads in chat. Intake opens rooms and starts
	// automated steps through the router, attached once it exists.
	incidentURL := web.IncidentURL(env.getenv("FIREBREAK_PUBLIC_URL"))
	alerts := intake.New(svc, intake.Config{
		Logger:         log,
		Now:            env.now,
		RepeatInterval: cfg.Grouping.RepeatInterval.D(),
		IncidentURL:    incidentURL,
	})
	runner := probe.New(cfg.Probes, alerts, probe.Options{Logger: log, Metrics: m})
	_, onBolt := db.(boltStore)
	auto := automation.New(svc, automation.Config{
		Logger:  log,
		Now:     env.now,
		Actions: acts,
		Probe: func(ctx context.Context, name string) (bool, string, error) {
			res, err := runner.Check(ctx, name)
			if err != nil {
				return false, "", err
			}
			return res.OK, res.Summary(), nil
		},
		Pages:       true, // delivered by the outbox's bot.NotifySender over acts
		SharedStore: !onBolt,
	})
	router := bot.NewRouter(svc, bot.RouterConfig{
		Tracker:       filerFor(tracker),
		Logger:        log,
		Now:           env.now,
		PostmortemDir: cfg.Postmortem.Directory,
		Metrics:       m,
		Automation:    auto,
		IncidentURL:   incidentURL,
		Alerts:        alerts,
	})
	alerts.Attach(router.Rooms(), router)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var g group
	g.start(ctx, "router", router.Run)
	g.start(ctx, "intake", alerts.Run)
	g.start(ctx, "automation", auto.Run)
	// What must run on one replica only: escalation and reminder timers
	// (their FireDue fenced by the term; each term first ends the runs of
	// automated steps a crash or failover cut short) and probes. With bbolt this
	// process always leads; on etcd it runs while this replica is elected
	// and stops when its context ends (leadership lost or shutdown).
	// The chat gateways (Slack Socket Mode, the Discord gateway) are
	// leader work too; they are created below, so leaderWork waits for
	// chatReady before it starts them (runGateways in store.go).
	var gateways []gateway
	var worker *outbox.Worker
	chatReady := make(chan struct{})
	leaderWork := func(ctx context.Context, fenced incidents.Store) {
		var lg sync.WaitGroup
		lg.Go(func() { runGateways(ctx, chatReady, &gateways, &g, log) })
		lg.Go(func() { runOutboxTerm(ctx, chatReady, &worker, box, fenced, log) })
		lg.Add(2)
		go func() {
			defer lg.Done()
			auto.RunTimers(ctx, incidents.NewService(fenced, cfg, svcOpts...))
		}()
		go func() {
			defer lg.Done()
			if err := runner.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("probes stopped", "err", err)
			}
		}()
		lg.Wait()
	}
	leading, err := elect(ctx, &g, db, env, log, leaderWork)
	if err != nil {
		return err
	}
	reg.MustRegister(leaderGauge(leading))
	// The admin socket stands in for the bbolt file this process locks;
	// with etcd, the operator commands read the cluster themselves.
	if b, ok := db.(boltStore); ok {
		admin := adminServer{db: b.DB, svc: svc, log: log}
		g.start(ctx, "admin socket", func(ctx context.Context) error { return admin.serve(ctx, adminSocket(path)) })
	}

	mux := http.NewServeMux()
	listen := env.getenv("FIREBREAK_LISTEN")
	if listen == "" && (!consoleOn || slackOn || discordOn) {
		listen = defaultListen
	}

	chats := map[string]bot.Chat{}
	startConsole := func() {}
	if slackOn {
		slackCfg.Logger = log
		slackCfg.PinEmoji = cfg.Incidents.PinEmoji
		a, err := slackbot.New(slackCfg, router)
		if err != nil {
			return err
		}
		router.AddChat(a.Platform(), a)
		chats[a.Platform()] = a
		mux.Handle("/slack/", a.HTTPHandler())
		if slackCfg.AppToken != "" {
			gateways = append(gateways, gateway{"slack socket mode", a.Run})
		} else {
			g.start(ctx, "slack", a.Run) // HTTP events: every replica
		}
	}
	if discordOn {
		discordCfg.Logger = log
		discordCfg.PinEmoji = cfg.Incidents.PinEmoji
		a, err := discordbot.New(discordCfg, router)
		if err != nil {
			return err
		}
		router.AddChat(a.Platform(), a)
		chats[a.Platform()] = a
		gateways = append(gateways, gateway{"discord gateway", a.Run})
	}
	if consoleOn {
		c := console.New(env.stdin, env.stdout, router, console.Options{
			Logger:   log,
			Prompt:   isTerminal(env),
			PinEmoji: cfg.Incidents.PinEmoji,
			User:     consoleUser(env),
			// The next line is read once what the last one caused is
			// printed, so button numbers and piped scripts work.
			Idle: func(ctx context.Context) error { return worker.Idle(ctx) },
		})
		router.AddChat("console", c)
		chats[console.Platform] = c
		startConsole = func() {
			g.start(ctx, "console", func(ctx context.Context) error {
				// On etcd, only the leader's console takes commands.
				if !waitToLead(ctx, env.stdout, db, env, leading) {
					return nil
				}
				err := c.Run(ctx)
				// End of input ends the bot: piped scripts and demos exit cleanly.
				cancel(nil)
				return err
			})
		}
	}

	worker, err = newWorker(box, chats, acts, tracker, router.RoomSender(box), svc, reg, env, log)
	if err != nil {
		return err
	}
	close(chatReady)
	if _, perTerm := box.(*termOutbox); !perTerm {
		g.start(ctx, "outbox", worker.Run)
	}
	startConsole()

	if listen != "" {
		// webhook.New warns when neither a token nor an HMAC secret is
		// set; either one alone opens intake.
		mux.Handle("/alerts/", webhook.New(webhook.Config{
			Token:      env.getenv("FIREBREAK_WEBHOOK_TOKEN"),
			HMACSecret: env.getenv("FIREBREAK_WEBHOOK_HMAC_SECRET"),
			Logger:     log,
		}, alerts, m))
		mux.Handle("GET /metrics", metrics.Handler(reg))
		if webOn {
			webCfg.Store, webCfg.Postmortems, webCfg.Logger = db, svc, log
			ws, err := web.New(webCfg)
			if err != nil {
				return err
			}
			mux.Handle(web.Prefix+"/", ws)
			g.start(ctx, "web view index", func(ctx context.Context) error {
				if err := ws.Warm(ctx); err != nil {
					log.Warn("web view: building the incident index; pages will retry", "err", err)
				}
				return nil
			})
			log.Info("web view on", "path", web.Prefix+"/")
		} else {
			log.Info("web view off: set FIREBREAK_WEB_PASSWORD to turn it on")
		}
		mux.HandleFunc("GET /readyz", readyz(db))
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = fmt.Fprintln(w, "ok")
		})
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return fmt.Errorf("FIREBREAK_LISTEN %s: %w", listen, err)
		}
		log.Info("listening for alerts", "addr", ln.Addr().String())
		g.start(ctx, "http", httpServe(ln, mux, log))
	}

	if webOn && listen == "" {
		log.Warn("FIREBREAK_WEB_PASSWORD is set but FIREBREAK_LISTEN is not: the web view is off")
	}
	if !consoleOn {
		log.Info("firebreak running", "slack", slackOn, "discord", discordOn, "store", db.describe(), "playbooks", cfg.Path)
	}
	err = g.wait(ctx, cancel)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// httpServe runs srv on ln until ctx is done, then shuts down gracefully so
// in-flight alert posts finish (and get their 2xx) before the database closes.
func httpServe(ln net.Listener, h http.Handler, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		srv := &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			<-ctx.Done()
			shut, cancel := context.WithTimeout(context.Background(), shutdownGrace)
			defer cancel()
			_ = srv.Shutdown(shut)
		}()
		err := srv.Serve(ln)
		<-done
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

// group runs the bot's components; the first to fail stops the others.
type group struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
}

func (g *group) start(ctx context.Context, name string, run func(context.Context) error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			g.mu.Lock()
			g.errs = append(g.errs, fmt.Errorf("%s: %w", name, err))
			g.mu.Unlock()
		}
	}()
}

// wait blocks until every component returned. A failure cancels the rest;
// once ctx is done, components get shutdownGrace to finish before wait gives
// up on them, so a stuck connection cannot keep the process alive.
func (g *group) wait(ctx context.Context, cancel context.CancelCauseFunc) error {
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var deadline <-chan time.Time
	for {
		select {
		case <-done:
			return g.err()
		case <-tick.C:
			if g.err() != nil {
				cancel(errors.New("a component failed"))
			}
			if deadline == nil && ctx.Err() != nil {
				deadline = time.After(shutdownGrace)
			}
		case <-deadline:
			return errors.Join(g.err(), fmt.Errorf("components still running %s after shutdown began; exiting anyway", shutdownGrace))
		}
	}
}

// fail records a component's failure from outside start (leader work).
func (g *group) fail(name string, err error) {
	g.mu.Lock()
	g.errs = append(g.errs, fmt.Errorf("%s: %w", name, err))
	g.mu.Unlock()
}

func (g *group) err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return errors.Join(g.errs...)
}

// isTerminal reports whether standard input is an interactive terminal.
func isTerminal(env environ) bool {
	if env.stdinIsTerminal != nil {
		return *env.stdinIsTerminal
	}
	f, ok := env.stdin.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// consoleUser is who types in the console: $USER, else "you".
func consoleUser(env environ) incidents.Actor {
	name := env.getenv("USER")
	if name == "" {
		name = "you"
	}
	return incidents.Actor{Platform: "console", ID: name, Name: name}
}
