package incidents

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
)

// groupPrefix marks group keys in the fingerprint index, so they can never
// be mistaken for an alert's own fingerprint.
const groupPrefix = "group:"

// maxFingerprintLen bounds fingerprints sources hand us; longer ones are
// hashed so index keys stay small.
const maxFingerprintLen = 128

// Fingerprint identifies "the same alert" across repeats. A fingerprint the
// source sent (Alertmanager's) is used as it is. Otherwise it is the first
// 16 bytes, in hex, of a SHA-256 over the alert's name (its title when it
// has no name), its labels sorted by name, and its service — the parts that
// say what is wrong and where, not when or how loudly. Changing any label
// (severity included, as in Alertmanager) makes a different alert.
func Fingerprint(a Alert) string {
	fp := strings.TrimSpace(a.Fingerprint)
	if fp != "" && len(fp) <= maxFingerprintLen && !strings.HasPrefix(fp, groupPrefix) {
		return fp
	}
	h := sha256.New()
	write := func(s string) {
		// Length-prefixed so that ("ab","c") and ("a","bc") differ.
		h.Write([]byte(strconv.Itoa(len(s))))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	if fp != "" {
		write("source-fingerprint")
		write(fp)
	} else {
		name := a.Name
		if name == "" {
			name = a.Title
		}
		write(name)
		keys := make([]string, 0, len(a.Labels))
		for k := range a.Labels {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			write(k)
			write(a.Labels[k])
		}
		write("service")
		write(a.Service)
	}
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:16])
}

// GroupKey is the key under which alerts share an incident when grouping
// by the labels in by (playbooks.yaml grouping.group_by): "group:" and the
// quoted label values in order. "alertname" falls back to the alert's name
// and "service" to its service when no such label exists. An alert with
// none of the labels has no group key ("") and groups by fingerprint only,
// so unrelated alerts without labels never pile into one incident.
func GroupKey(a Alert, by []string) string {
	if len(by) == 0 {
		return ""
	}
	// One buffer, on the stack for the usual few short labels: this runs
	// for every alert received.
	var buf [128]byte
	b := append(buf[:0], groupPrefix...)
	found := false
	for i, l := range by {
		v, ok := a.Labels[l]
		if !ok || v == "" {
			switch l {
			case "alertname":
				v = a.Name
			case "service":
				v = a.Service
			}
		}
		if v != "" {
			found = true
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, l...)
		b = append(b, '=')
		b = strconv.AppendQuote(b, v)
	}
	if !found {
		return ""
	}
	return string(b)
}
