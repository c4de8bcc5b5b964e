package etcdstore

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Environment variables Config reads (see ConfigFromEnv).
const (
	EnvEndpoints = "FIREBREAK_ETCD_ENDPOINTS" // host:port,host:port,… (or https://host:port)
	EnvUsername  = "FIREBREAK_ETCD_USERNAME"
	EnvPassword  = "FIREBREAK_ETCD_PASSWORD"
	EnvCert      = "FIREBREAK_ETCD_CERT"   // client certificate (PEM file)
	EnvKey       = "FIREBREAK_ETCD_KEY"    // its private key (PEM file)
	EnvCA        = "FIREBREAK_ETCD_CA"     // CA bundle that signed the members' certificates
	EnvPrefix    = "FIREBREAK_ETCD_PREFIX" // key prefix, default "firebreak/"
	EnvMaxTxnOps = "FIREBREAK_ETCD_MAX_TXN_OPS"
	EnvTimeout   = "FIREBREAK_ETCD_TIMEOUT" // Go duration, e.g. 10s
)

// Defaults, matching an etcd started without flags.
const (
	DefaultPrefix          = "firebreak/"
	DefaultMaxTxnOps       = 128                 // etcd's --max-txn-ops default
	DefaultMaxRequestBytes = 3 * 1024 * 1024 / 2 // etcd's --max-request-bytes default
	DefaultDialTimeout     = 5 * time.Second
	DefaultRequestTimeout  = 10 * time.Second
	DefaultSeenTTL         = 7 * 24 * time.Hour // as the bbolt store's storage.DefaultSeenTTL
)

// Config says where the etcd cluster is and how to authenticate. Secrets
// come from the environment (ConfigFromEnv), never from playbooks.yaml.
type Config struct {
	// Endpoints are the members' client URLs or host:port pairs.
	Endpoints []string
	// Username and Password enable etcd's authentication; both or neither.
	Username, Password string
	// CertFile and KeyFile are a client certificate for mutual TLS; CAFile
	// verifies the members. Any of them turns TLS on.
	CertFile, KeyFile, CAFile string
	// Prefix namespaces every key, so one cluster can hold several
	// Firebreak installations (and other data). It must end in "/".
	Prefix string
	// MaxTxnOps and MaxRequestBytes must match the cluster's
	// --max-txn-ops and --max-request-bytes: an Update larger than them is
	// refused with ErrTooLarge before it is sent.
	MaxTxnOps       int
	MaxRequestBytes int
	// DialTimeout bounds connecting to the cluster.
	DialTimeout time.Duration
	// RequestTimeout bounds one Update (all its attempts) and the snapshot
	// read that starts a View. A cluster that has lost its quorum does not
	// answer, it waits; past this bound the store reports ErrUnavailable,
	// so a webhook answers 503 while the sender still waits for it.
	RequestTimeout time.Duration
	// SeenTTL is how long platform event ids are remembered (at least).
	SeenTTL time.Duration
}

// ConfigFromEnv reads the FIREBREAK_ETCD_* variables; getenv is os.Getenv
// in production. It returns ok=false when FIREBREAK_ETCD_ENDPOINTS is unset
// (the bbolt store is then used). The result is validated.
func ConfigFromEnv(getenv func(string) string) (cfg Config, ok bool, err error) {
	eps := strings.TrimSpace(getenv(EnvEndpoints))
	if eps == "" {
		return Config{}, false, nil
	}
	for e := range strings.SplitSeq(eps, ",") {
		if e = strings.TrimSpace(e); e != "" {
			cfg.Endpoints = append(cfg.Endpoints, e)
		}
	}
	cfg.Username, cfg.Password = getenv(EnvUsername), getenv(EnvPassword)
	cfg.CertFile, cfg.KeyFile, cfg.CAFile = getenv(EnvCert), getenv(EnvKey), getenv(EnvCA)
	cfg.Prefix = getenv(EnvPrefix)
	if v := getenv(EnvMaxTxnOps); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return cfg, true, fmt.Errorf("%s=%q: not a number", EnvMaxTxnOps, v)
		}
		cfg.MaxTxnOps = n
	}
	if v := getenv(EnvTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return cfg, true, fmt.Errorf("%s=%q: not a positive duration such as 10s", EnvTimeout, v)
		}
		cfg.RequestTimeout = d
	}
	cfg = cfg.withDefaults()
	return cfg, true, cfg.Validate()
}

func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.MaxTxnOps == 0 {
		c.MaxTxnOps = DefaultMaxTxnOps
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.SeenTTL == 0 {
		c.SeenTTL = DefaultSeenTTL
	}
	return c
}

// Validate reports every problem at once, each naming the environment
// variable to fix.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if len(c.Endpoints) == 0 {
		errs = append(errs, fmt.Errorf("%s: no endpoints", EnvEndpoints))
	}
	for _, e := range c.Endpoints {
		hostport := e
		if i := strings.Index(e, "://"); i >= 0 {
			if s := e[:i]; s != "http" && s != "https" {
				errs = append(errs, fmt.Errorf("%s: endpoint %q: scheme %q (want http or https)", EnvEndpoints, e, s))
				continue
			}
			hostport = e[i+3:]
		}
		if _, port, err := net.SplitHostPort(hostport); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("%s: endpoint %q: want host:port", EnvEndpoints, e))
		}
	}
	if (c.Username == "") != (c.Password == "") {
		errs = append(errs, fmt.Errorf("%s and %s: set both or neither", EnvUsername, EnvPassword))
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, fmt.Errorf("%s and %s: set both or neither", EnvCert, EnvKey))
	}
	for _, f := range []struct{ env, path string }{{EnvCert, c.CertFile}, {EnvKey, c.KeyFile}, {EnvCA, c.CAFile}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.env, err))
		}
	}
	if !strings.HasSuffix(c.Prefix, "/") {
		errs = append(errs, fmt.Errorf("%s=%q: must end in /", EnvPrefix, c.Prefix))
	}
	if c.MaxTxnOps < 8 {
		errs = append(errs, fmt.Errorf("%s=%d: at least 8 (match the cluster's --max-txn-ops)", EnvMaxTxnOps, c.MaxTxnOps))
	}
	if c.SeenTTL < time.Minute {
		errs = append(errs, fmt.Errorf("seen event TTL %v: at least a minute", c.SeenTTL))
	}
	return errors.Join(errs...)
}

// tlsConfig builds the client TLS configuration, or nil when no TLS file
// is configured and no endpoint asks for https.
func (c Config) tlsConfig() (*tls.Config, error) {
	https := false
	for _, e := range c.Endpoints {
		https = https || strings.HasPrefix(e, "https://")
	}
	if c.CertFile == "" && c.CAFile == "" && !https {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", EnvCert, EnvKey, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvCA, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: %s holds no PEM certificate", EnvCA, c.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}
