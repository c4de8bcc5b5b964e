package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
)

// decodeSeeds are payloads where JSON v2 and encoding/json could part ways:
// name case, duplicates, nulls, unknown names, invalid UTF-8, escapes,
// wrong types, trailing data.
var decodeSeeds = []string{
	`{"Title":"x","SEVERITY":"sev2","Labels":{"Job":"api"}}`,
	`{"title":"a","title":"b","labels":{"k":"1"},"labels":{"j":"2"}}`,
	`{"title":null,"labels":null,"alerts":null}`,
	`{"title":"x","whatever":{"deep":[1,2,{"a":null}]},"extra":3.5e10}`,
	"{\"title\":\"bad \xff utf8\",\"labels\":{\"\xfe\":\"v\"}}",
	`{"title":"esc \u00e9 \ud83d\ude00 \n \"q\" \\","labels":{"a\u0062":"c"}}`,
	`{"title":"lone \ud800 surrogate"}`,
	`{"version":"4","truncatedAlerts":1.5,"alerts":[{}]}`,
	`{"version":4,"alerts":[{}]}`,
	`{"alerts":[{"labels":{"severity":2}}]}`,
	`{"alerts":{}}`,
	`{"title":"x"} {"title":"y"}`,
	`{"title":"x"}   `,
	`[{"title":"x"}]`,
	`{"alerts":[{"values":{"B":1e400,"C":[true,null]}}]}`,
	`{"alerts":[{"labels":{"a":"1"}},{"labels":{"a":"1","a":"2"}}],"commonLabels":{}}`,
	`{"orgId":"1","alerts":[]}`,
	`{"title":"x","runbook_url":"u","RUNBOOK_URL":"v","runbookurl":"w"}`,
	"{\"title\":\"x\"}\x00",
	`{"évènement":"x","title":"\u0000"}`,
	// Near the shape scanAlertmanager reads, and just outside it.
	`{"version":"4","alerts":[{"labels":{"a":"1","a":"2"},"labels":{"b":"3"},"status":"firing","status":"resolved"}]}`,
	`{"version":"4","alerts":[],"alerts":[{}]}`,
	`{"version":"4","alerts":[{"labels":{"alertname":"é ü 日本"}}],"commonLabels":{"job":"x"},"commonAnnotations":{}}`,
	`{"truncatedAlerts":-0,"alerts":[{}]}`,
	`{"truncatedAlerts":01,"alerts":[{}]}`,
	`{"truncatedAlerts":1e2,"alerts":[{}]}`,
	`{"truncatedAlerts":9223372036854775808,"alerts":[{}]}`,
	`{"truncatedAlerts":-9223372036854775808,"alerts":[{}]}`,
	`{"version":"4","alerts":[{"labels":null}]}`,
	`{"version":"4","Alerts":[{}]}`,
	`{"version":"4","alerts":[{"labels":{"a":"1",}}]}`,
	`{"version":"4","alerts":[{},]}`,
	`{"version":"4","alerts":[{"endsAt":"0001-01-01T00:00:00Z","status":"firing"}]}` + "\n\t ",
	" \r\n{ \"alerts\" : [ { \"labels\" : { \"k\" : \"v\" } } ] } ",
	`{"groupKey":"{}:{alertname=\"X\"}","alerts":[{"labels":{"a\/b":"\b\f\n\r\t\\"}}]}`,
	`{"alerts":[{"labels":{"k":"\u00e9 \ud83d\ude00 \u0000 \uFFFF"}}]}`,
	`{"alerts":[{"labels":{"k":"\ud800"}}]}`,
	`{"alerts":[{"labels":{"k":"\udc00\ud800"}}]}`,
	`{"alerts":[{"labels":{"k":"\ud800\u0041"}}]}`,
	`{"alerts":[{"labels":{"k":"\x41"}}]}`,
	`{"al\u0065rts":[{"st\u0061tus":"resolved"}]}`,
	"{\"alerts\":[{\"labels\":{\"k\":\"\\u00e9 \xff\"}}]}",
	`{"orgId":1,"title":"t","state":"alerting","message":"m","alerts":[{"values":{"B":-0.5e+3,"C":0,"D":1E2},"valueString":"v","silenceURL":"s","imageURL":"i"}]}`,
	`{"alerts":[{"values":{"B":01}}]}`,
	`{"alerts":[{"values":{"B":1.}}]}`,
	`{"alerts":[{"values":{"B":-}}]}`,
	`{"alerts":[{"values":{"B":null}}]}`,
	`{"alerts":[{"values":{"B":1},"values":{"C":2}}]}`,
	`{"ruleName":"cpu","evalMatches":[]}`,
	`{"title":"x","alerts":[{"title":"y","labels":{},"annotations":{"a":"b"},"runbook_url":"r","url":"u"}]}`,
	`{"alerts":[{"title":"y","alerts":[]}]}`,
	`{"alerts":null,"title":null,"orgId":null,"truncatedAlerts":null}`,
	`{"alerts":[{"labels":{"a":"b"},"labels":null,"status":null,"values":null}]}`,
	`{"alerts":[{"labels":{"a":nul}}]}`,
	`{"title":nullx}`,
	// Names the shapes lack, which are skipped, and near misses.
	`{"future":{"a":[1,-2.5e3,true,false,null,"s\u00e9",{"b":{}}],"c":[]},"alerts":[{"labels":{},"more":[[[]]]}],"title":"x"}`,
	`{"alerts":[{}],"x":tru}`,
	`{"alerts":[{}],"x":[1,]}`,
	`{"alerts":[{}],"x":{"a":}}`,
	`{"alerts":[{}],"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
	`{"alerts":[{"ſtatus":"resolved"}],"ſtatus":"resolved"}`,
	`{"alerts":[{"STATUS":"resolved","Labels":{"a":"b"}}],"TITLE":"t","OrgId":2}`,
	`{"alerts":[{"title":"a","Alerts":[]}]}`,
	`{"evalMatches":[],"alerts":[{}]}`,
}

func addDecodeSeeds(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(f, err)
	for _, name := range files {
		b, err := os.ReadFile(name)
		require.NoError(f, err)
		f.Add(b)
	}
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
}

// sameDecoding fails t when JSON v2 (decodeFast) accepts body into a T
// but encoding/json refuses it or reads something else: decodeJSON trusts
// v2's success, so the two must agree wherever v2 succeeds. (Where v2
// refuses, decodeJSON uses encoding/json's answer, so that case agrees by
// construction.)
func sameDecoding[T any](t *testing.T, body []byte) {
	t.Helper()
	var fast, slow T
	if decodeFast(body, &fast) != nil {
		return
	}
	err := json.Unmarshal(body, &slow)
	if err != nil {
		t.Fatalf("%T: JSON v2 accepted %q, encoding/json refused it: %v", fast, body, err)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%T: decodings of %q differ:\nv2:            %#v\nencoding/json: %#v", fast, body, fast, slow)
	}
}

// sameScan fails t when scan accepts body into a T but encoding/json
// refuses it or reads something else.
func sameScan[T any](t *testing.T, scan func([]byte, *T) bool, body []byte) {
	t.Helper()
	var fast, slow, zero T
	if !scan(body, &fast) {
		if !reflect.DeepEqual(fast, zero) {
			t.Fatalf("%T: the scanner declined %q but left %#v", fast, body, fast)
		}
		return
	}
	if err := json.Unmarshal(body, &slow); err != nil {
		t.Fatalf("%T: the scanner accepted %q, encoding/json refused it: %v", fast, body, err)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%T: decodings of %q differ:\nscan:          %#v\nencoding/json: %#v", fast, body, fast, slow)
	}
}

func sameDecodings(t *testing.T, body []byte) {
	t.Helper()
	sameScan(t, scanAlertmanager, body)
	sameScan(t, scanGrafana, body)
	sameScan(t, scanGeneric, body)
	sameDecoding[amPayload](t, body)
	sameDecoding[grafanaPayload](t, body)
	sameDecoding[genericPayload](t, body)
}

// FuzzDecodeMatchesEncodingJSON compares scanAlertmanager and decodeJSON's
// fast path with encoding/json on every payload shape Firebreak reads.
func FuzzDecodeMatchesEncodingJSON(f *testing.F) {
	addDecodeSeeds(f)
	f.Fuzz(sameDecodings)
}

func TestDecodeMatchesEncodingJSONOnSeeds(t *testing.T) {
	for _, s := range decodeSeeds {
		sameDecodings(t, []byte(s))
	}
}

// The scanners must take the payloads senders really send, or a storm
// pays for the slow path.
func TestScannersTakeRealPayloads(t *testing.T) {
	for _, body := range [][]byte{
		readSample(t, "alertmanager_firing.json"),
		readSample(t, "alertmanager_resolved.json"),
		benchBody(1),
		benchBody(100),
	} {
		scans(t, scanAlertmanager, body)
	}
	for _, name := range []string{"grafana_firing.json", "grafana_resolved.json"} {
		scans(t, scanGrafana, readSample(t, name))
	}
	for _, name := range []string{"generic_single.json", "generic_batch.json"} {
		scans(t, scanGeneric, readSample(t, name))
	}
	// A field a newer sender adds stays on the fast path.
	scans(t, scanAlertmanager, []byte(`{"version":"4","newField":{"x":[1,"y",null]},"alerts":[{"labels":{"alertname":"A"},"future":true}]}`))
	scans(t, scanGeneric, []byte(`{"title":"x","source":"ci","build":{"id":42}}`))
}

func scans[T any](t *testing.T, scan func([]byte, *T) bool, body []byte) {
	t.Helper()
	var got, want T
	require.True(t, scan(body, &got), "%s", body)
	require.NoError(t, json.Unmarshal(body, &want))
	assert.Equal(t, want, got)
}

// TestDecodeKeepsEncodingJSONRules pins the rules senders may rely on,
// which JSON v2's defaults would change.
func TestDecodeKeepsEncodingJSONRules(t *testing.T) {
	t.Run("names match case-insensitively", func(t *testing.T) {
		got, err := ParseGeneric([]byte(`{"Title":"disk full","SEVERITY":"sev2","Labels":{"job":"db"}}`))
		require.NoError(t, err)
		require.Len(t, got, 1)
		assert.Equal(t, "disk full", got[0].Title)
		assert.Equal(t, "db", got[0].Service)
		assert.Equal(t, incidents.SEV2, got[0].Severity)
	})
	t.Run("the last of the matching names wins", func(t *testing.T) {
		got, err := ParseGeneric([]byte(`{"title":"exact","TITLE":"variant"}`))
		require.NoError(t, err)
		assert.Equal(t, "variant", got[0].Title, "encoding/json: the last matching name wins")
	})
	t.Run("the last duplicate wins", func(t *testing.T) {
		got, err := ParseAlertmanager([]byte(`{"alerts":[{"labels":{"alertname":"A","alertname":"B"}}]}`))
		require.NoError(t, err)
		assert.Equal(t, "B", got[0].Name)
	})
	t.Run("invalid UTF-8 is replaced, not refused", func(t *testing.T) {
		got, err := ParseGeneric([]byte("{\"title\":\"bad \xff byte\"}"))
		require.NoError(t, err)
		assert.Equal(t, "bad \uFFFD byte", got[0].Title)
	})
	t.Run("unknown names are ignored", func(t *testing.T) {
		got, err := ParseAlertmanager([]byte(`{"version":"4","newField":{"x":[1]},"alerts":[{"labels":{"alertname":"A"},"future":true}]}`))
		require.NoError(t, err)
		assert.Equal(t, "A", got[0].Name)
	})
}

// benchBody is an Alertmanager webhook payload of n distinct alerts of one
// group, as firebreak-bench's intake load sends them.
func benchBody(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"version":"4","status":"firing","receiver":"firebreak","groupKey":"bench","alerts":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"status":"firing","labels":{"alertname":"PodCrashLooping","service":"checkout","instance":"checkout-%07d","severity":"warning"},`+
			`"annotations":{"summary":"Pod checkout-%07d is crash looping"},"startsAt":"2026-01-02T03:04:05Z","endsAt":"0001-01-01T00:00:00Z",`+
			`"generatorURL":"http://127.0.0.1/graph","fingerprint":"%016x"}`, i, i, i+1)
	}
	b.WriteString(`],"groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://127.0.0.1:9093"}`)
	return b.Bytes()
}

// BenchmarkParseAlertmanager is the parsing share of an alert's intake
// CPU, without HTTP or storage.
func BenchmarkParseAlertmanager(b *testing.B) {
	for _, n := range []int{1, 100} {
		body := benchBody(n)
		b.Run(fmt.Sprintf("alerts=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, err := ParseAlertmanager(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
