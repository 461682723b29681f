package almasim

import (
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"time"
)

// faultJSON is a fault over HTTP: POST /_sim/faults
// {"endpoint":"sru","kind":"429","delay_ms":0,"retry_after":2,"times":3};
// with "target" (a zone code or "ext") it faults that SRU target only.
type faultJSON struct {
	Endpoint   string    `json:"endpoint"`
	Target     string    `json:"target,omitempty"`
	Kind       FaultKind `json:"kind"`
	DelayMS    int64     `json:"delay_ms"`
	RetryAfter int       `json:"retry_after"`
	Times      int       `json:"times"`
}

// ControlHandler serves the simulator's control surface (JSON), to loopback
// clients only:
//
//	POST   /_sim/faults    set a fault (faultJSON); kind "none" clears the endpoint (or target)
//	GET    /_sim/faults    the active faults: by endpoint, and as "target:<name>" per target
//	DELETE /_sim/faults    clear every fault
//	GET    /_sim/counters  {"sru":n,"bibs":n,"all":n,"writes":n,"targets":{"<name>":n}} (writes: those that took effect)
//	GET    /_sim/works     the ground truth of clustering: {"<target>":{"<record id>":"<work>"}}
//	GET    /_sim/requests  the request log, oldest first
//	GET    /_sim/network   network code, NZ key, members and their keys
//	POST   /_sim/reset     zero counters, log and quotas, and clear every fault
func (s *Simulator) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /_sim/faults", s.postFault)
	mux.HandleFunc("GET /_sim/faults", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.faultsJSON()) })
	mux.HandleFunc("DELETE /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		s.ClearFaults()
		writeJSON(w, http.StatusOK, s.faultsJSON())
	})
	mux.HandleFunc("GET /_sim/counters", func(w http.ResponseWriter, r *http.Request) {
		targets := map[string]int64{}
		for _, t := range s.Targets() {
			targets[t] = s.CountTarget(t)
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"sru": s.Count(EndpointSRU), "bibs": s.Count(EndpointBibs), "all": s.Count(EndpointAll), "writes": s.WritesDone(), "targets": targets})
	})
	mux.HandleFunc("GET /_sim/works", func(w http.ResponseWriter, r *http.Request) {
		works := s.Works()
		if t := r.URL.Query().Get("target"); t != "" {
			m, ok := works[t]
			if !ok {
				writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown target " + t})
				return
			}
			works = map[string]map[string]string{t: m}
		}
		writeJSON(w, http.StatusOK, works)
	})
	mux.HandleFunc("GET /_sim/requests", func(w http.ResponseWriter, r *http.Request) {
		type entry struct {
			Time           time.Time           `json:"time"`
			Endpoint       string              `json:"endpoint"`
			Method         string              `json:"method"`
			Path           string              `json:"path"`
			Query          map[string][]string `json:"query"`
			KeyInURL       bool                `json:"key_in_url"`
			KeyInHeader    bool                `json:"key_in_header"`
			KeyOwner       string              `json:"key_owner"`
			MaximumRecords int                 `json:"maximum_records"`
		}
		out := []entry{}
		for _, e := range s.Requests() {
			out = append(out, entry{e.Time, e.Endpoint.String(), e.Method, e.Path, e.Query, e.KeyInURL, e.KeyInHeader, e.KeyOwner, e.MaximumRecords})
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /_sim/network", func(w http.ResponseWriter, r *http.Request) {
		type member struct {
			Code   string `json:"code"`
			Name   string `json:"name"`
			APIKey string `json:"api_key"`
		}
		ms := []member{}
		for _, m := range s.members {
			ms = append(ms, member{m.Code, m.Name, m.APIKey})
		}
		writeJSON(w, http.StatusOK, map[string]any{"network": s.cfg.NetworkCode, "nz_key": s.nzKey, "members": ms,
			"control_char_mms_id": s.ControlCharMMSID()})
	})
	mux.HandleFunc("POST /_sim/reset", func(w http.ResponseWriter, r *http.Request) {
		s.ResetCounters()
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopback(r.RemoteAddr) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "the control path answers loopback clients only"})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func loopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Simulator) postFault(w http.ResponseWriter, r *http.Request) {
	var in faultJSON
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad fault: " + err.Error()})
		return
	}
	ep, ok := ParseEndpoint(in.Endpoint)
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unknown endpoint " + in.Endpoint + " (sru, bibs, all)"})
		return
	}
	if in.Kind == "none" {
		in.Kind = FaultNone
	}
	if !slices.Contains(faultKinds, in.Kind) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unknown fault kind " + string(in.Kind)})
		return
	}
	if in.DelayMS < 0 || in.RetryAfter < 0 || in.Times < 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "delay_ms, retry_after and times must not be negative"})
		return
	}
	f := Fault{Kind: in.Kind, Delay: time.Duration(in.DelayMS) * time.Millisecond, RetryAfter: in.RetryAfter, Times: in.Times}
	if in.Target != "" {
		if ep != EndpointSRU && ep != EndpointAll {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "a target is an SRU target: endpoint must be sru"})
			return
		}
		if !s.SetTargetFault(in.Target, f) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unknown target " + in.Target})
			return
		}
		writeJSON(w, http.StatusOK, s.faultsJSON())
		return
	}
	s.SetFault(ep, f)
	writeJSON(w, http.StatusOK, s.faultsJSON())
}

func (s *Simulator) faultsJSON() map[string]faultJSON {
	out := map[string]faultJSON{}
	for ep, f := range s.Faults() {
		out[ep.String()] = faultJSON{Endpoint: ep.String(), Kind: f.Kind, DelayMS: f.Delay.Milliseconds(), RetryAfter: f.RetryAfter, Times: f.Times}
	}
	for t, f := range s.TargetFaults() {
		out["target:"+t] = faultJSON{Endpoint: "sru", Target: t, Kind: f.Kind, DelayMS: f.Delay.Milliseconds(), RetryAfter: f.RetryAfter, Times: f.Times}
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(marshalJSON(v))
}
