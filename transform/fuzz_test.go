package transform

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func addSeeds(f *testing.F) {
	// Single records rather than whole pages keep the fuzzer fast.
	for _, in := range goldenInputs {
		sc := NewScanner(bytes.NewReader(goldenInput(f, in.file)))
		for i := 0; sc.Scan() && i < 2; i++ {
			f.Add(bytes.Clone(sc.Bytes()))
		}
	}
	f.Add(readTestdata(f, "princeton_iz_sru_zero_hits.xml"))
	f.Add(awkwardRecord)
	f.Add(marc(df("245", "1", "0", "a", "&lt;&#x1F600;&#1;<![CDATA[]]>"), df("852", "0", "1", "a", "A", "9", "P")))
	f.Add([]byte(`<record><leader>x</leader><controlfield tag='001'>1</controlfield></record>`))
	f.Add([]byte(`<searchRetrieveResponse><records><record><recordData>&lt;record&gt;&lt;controlfield tag="001"&gt;5&lt;/controlfield&gt;&lt;/record&gt;</recordData></record></records></searchRetrieveResponse>`))
}

// checkOutputs holds the promises every parsed record keeps: the feed
// JSON is valid and equals json.Marshal's; MARCXML and DC are well-formed;
// and the MARCXML reads back to the same feed record.
func checkOutputs(t *testing.T, r *Record) {
	t.Helper()
	fast := r.AppendFeedJSON(nil, 1)
	if !json.Valid(fast) {
		t.Fatalf("invalid JSON: %s", fast)
	}
	slow, err := json.Marshal(r.Feed(1))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fast, slow) {
		t.Fatalf("AppendFeedJSON differs from json.Marshal:\n%s\n%s", fast, slow)
	}
	if _, err := json.Marshal(r.Availability); err != nil {
		t.Fatalf("availability: %v", err)
	}
	mx := r.AppendMARCXML(nil)
	checkWellFormed(t, mx)
	checkMARCSchema(t, mx)
	checkWellFormed(t, r.AppendDC(nil))
	back, err := Parse(mx)
	if err != nil {
		t.Fatalf("reparse of MARCXML output: %v\n%s", err, mx)
	}
	if diff := cmp.Diff(r.Feed(1), back.Feed(1)); diff != "" {
		t.Fatalf("MARCXML round trip changed the record (-before +after):\n%s", diff)
	}
}

func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			return
		}
		checkOutputs(t, r)
	})
}

func FuzzScanner(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		sc := NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			r, err := Parse(sc.Bytes())
			if err != nil {
				continue
			}
			checkOutputs(t, r)
		}
	})
}

// FuzzAppendJSONString holds the one JSON string quoter to encoding/json:
// the HTML-escaping form is byte for byte json.Marshal's, for a string and
// for the same bytes; the log form decodes back to the same text (invalid
// UTF-8 as U+FFFD, as json.Marshal's) and never contains a raw control character.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", `"quoted" \ back`, "<a href=x>&</a>", "tab\tnl\n\x00\x1f\x7f", "\xff\xfe", "é ü 中文", "\u2028\u2029", "half \xe4\xb8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := AppendJSONString(nil, s); string(got) != string(want) {
			t.Fatalf("AppendJSONString(%q) = %s, json.Marshal %s", s, got, want)
		}
		if got := AppendJSONString([]byte("x"), []byte(s)); string(got) != "x"+string(want) {
			t.Fatalf("AppendJSONString([]byte(%q)) = %s, json.Marshal %s", s, got, want)
		}
		logged := AppendJSONLogString(nil, []byte(s))
		var back string
		if err := json.Unmarshal(logged, &back); err != nil {
			t.Fatalf("AppendJSONLogString(%q) = %s: not JSON: %v", s, logged, err)
		}
		var canon string // what json.Marshal's quoting decodes to
		if err := json.Unmarshal(want, &canon); err != nil || back != canon {
			t.Fatalf("AppendJSONLogString(%q) decodes to %q, json.Marshal's to %q (%v)", s, back, canon, err)
		}
		for _, c := range logged {
			if c < 0x20 {
				t.Fatalf("AppendJSONLogString(%q) = %q holds a raw control character", s, logged)
			}
		}
	})
}
