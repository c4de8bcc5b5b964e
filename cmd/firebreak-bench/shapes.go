package main

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"strings"
	"time"
)

// Storm shapes. Each names how the i-th alert of a run looks; the loader
// renders the same alerts in each tool's format.
const (
	// shapeOneGroup: alertname and service fixed, instance varies: "every
	// pod of a service fails"; one group, every alert distinct.
	shapeOneGroup = "one-group"
	// shapeOneGroupHashed: one-group with fingerprints as Alertmanager
	// makes them, a hash of the labels, so new alerts arrive in no key
	// order (one-group's fingerprints count up: i+1 in hexadecimal).
	shapeOneGroupHashed = "one-group-hashed"
	// shapeOwnGroup: every alert its own group (a new incident each).
	shapeOwnGroup = "own-group"
	// shapeRepeats: the same alert again and again.
	shapeRepeats = "repeats"
	// shapeLarge: the same 800 alerts of ~1.1 KB each in every request
	// (~0.9 MB), as an Alertmanager with many groups firing at once sends.
	shapeLarge = "large"
)

var startsAt = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC).Format(time.RFC3339)

// largeText pads the large shape's alerts to about 1.1 KB each.
var largeText = strings.Repeat("Pod is restarting repeatedly; see the runbook. ", 20)

type alert struct {
	labels      [][2]string
	annotations [][2]string
	fingerprint string
}

func makeAlert(shape string, i int) alert {
	switch shape {
	case shapeOneGroup, shapeOneGroupHashed:
		a := alert{
			labels:      [][2]string{{"alertname", "PodCrashLooping"}, {"service", "checkout"}, {"instance", fmt.Sprintf("checkout-%07d", i)}, {"severity", "warning"}},
			annotations: [][2]string{{"summary", "checkout pod crash-looping"}},
			fingerprint: fmt.Sprintf("%016x", uint64(i)+1),
		}
		if shape == shapeOneGroupHashed {
			h := fnv.New64a()
			for _, l := range a.labels {
				h.Write([]byte(l[0] + "\xff" + l[1] + "\xff"))
			}
			a.fingerprint = fmt.Sprintf("%016x", h.Sum64())
		}
		return a
	case shapeOwnGroup:
		return alert{
			labels:      [][2]string{{"alertname", fmt.Sprintf("Alert%07d", i)}, {"service", fmt.Sprintf("svc-%07d", i)}, {"instance", "host-1"}, {"severity", "warning"}},
			annotations: [][2]string{{"summary", "something is wrong"}},
			fingerprint: fmt.Sprintf("%016x", uint64(i)+1<<40),
		}
	case shapeLarge:
		j := i % 800
		return alert{
			labels:      [][2]string{{"alertname", fmt.Sprintf("Group%03d", j/20)}, {"service", fmt.Sprintf("svc-%03d", j/20)}, {"instance", fmt.Sprintf("pod-%04d", j)}, {"severity", "warning"}},
			annotations: [][2]string{{"summary", "pod crash-looping"}, {"description", largeText}},
			fingerprint: fmt.Sprintf("%016x", uint64(j)+1<<50),
		}
	default: // shapeRepeats
		return alert{
			labels:      [][2]string{{"alertname", "DiskFull"}, {"service", "db"}, {"instance", "db-1"}, {"severity", "warning"}},
			annotations: [][2]string{{"summary", "disk almost full"}},
			fingerprint: "00000000000000ff",
		}
	}
}

func writeKV(b *bytes.Buffer, kv [][2]string) {
	b.WriteByte('{')
	for i, p := range kv {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(b, "%q:%q", p[0], p[1])
	}
	b.WriteByte('}')
}

// alertmanagerBody is POST /api/v2/alerts: a JSON array of postable alerts.
func alertmanagerBody(shape string, start, n int) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		a := makeAlert(shape, start+i)
		b.WriteString(`{"labels":`)
		writeKV(&b, a.labels)
		b.WriteString(`,"annotations":`)
		writeKV(&b, a.annotations)
		fmt.Fprintf(&b, `,"startsAt":%q,"generatorURL":"http://127.0.0.1/graph"}`, startsAt)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// firebreakBody is Alertmanager's webhook payload (version 4), which
// Firebreak receives at /alerts/alertmanager.
func firebreakBody(shape string, start, n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"version":"4","status":"firing","receiver":"firebreak","groupKey":"bench","alerts":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		a := makeAlert(shape, start+i)
		b.WriteString(`{"status":"firing","labels":`)
		writeKV(&b, a.labels)
		b.WriteString(`,"annotations":`)
		writeKV(&b, a.annotations)
		fmt.Fprintf(&b, `,"startsAt":%q,"endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://127.0.0.1/graph","fingerprint":%q}`, startsAt, a.fingerprint)
	}
	b.WriteString(`],"groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://127.0.0.1:9093"}`)
	return b.Bytes()
}
