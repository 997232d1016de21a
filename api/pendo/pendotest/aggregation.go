package pendotest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

type aggregationRequest struct {
	Response struct {
		MimeType string `json:"mimeType"`
	} `json:"response"`
	Request struct {
		Name      string            `json:"name"`
		RequestID string            `json:"requestId"`
		Pipeline  []json.RawMessage `json:"pipeline"`
	} `json:"request"`
}

// aggregate serves POST /api/v1/aggregation for the visitors and accounts
// sources with the identified, filter, select, sort, limit and skip steps.
// Anything else is refused with 400, never ignored: a silently skipped step
// would return rows the client did not ask for.
func (s *Server) aggregate(w http.ResponseWriter, r *http.Request) {
	var req aggregationRequest
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil {
		badRequest(w, "Bad Request: malformed JSON: "+err.Error())
		return
	}
	if req.Response.MimeType != "application/json" {
		badRequest(w, fmt.Sprintf("Bad Request: unsupported response mimeType %q", req.Response.MimeType))
		return
	}
	if len(req.Request.Pipeline) == 0 {
		badRequest(w, "Bad Request: pipeline must begin with a source step")
		return
	}
	s.mu.Lock()
	rows, err := s.source(req.Request.Pipeline[0])
	s.mu.Unlock()
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	for _, raw := range req.Request.Pipeline[1:] {
		if rows, err = applyStep(rows, raw); err != nil {
			badRequest(w, err.Error())
			return
		}
	}
	// Stream the rows, as Pendo's multi-gigabyte responses are streamed.
	w.Header().Set("Content-Type", "application/json")
	bw := bufio.NewWriterSize(w, 64<<10)
	fmt.Fprintf(bw, `{"startTime":%d,"results":[`, s.now().UnixMilli())
	enc := json.NewEncoder(bw)
	for i, row := range rows {
		if i > 0 {
			bw.WriteByte(',')
		}
		enc.Encode(row)
	}
	bw.WriteString("]}")
	bw.Flush()
}

func (s *Server) source(raw json.RawMessage) ([]map[string]any, error) {
	var step map[string]json.RawMessage
	if err := json.Unmarshal(raw, &step); err != nil {
		return nil, fmt.Errorf("Bad Request: pipeline step is not an object")
	}
	src, ok := step["source"]
	if !ok {
		return nil, fmt.Errorf("Bad Request: pipeline must begin with a source step")
	}
	var spec map[string]json.RawMessage
	if err := json.Unmarshal(src, &spec); err != nil {
		return nil, fmt.Errorf("Bad Request: source is not an object")
	}
	var kind, idField string
	var params json.RawMessage
	for name, p := range spec {
		switch name {
		case "visitors":
			kind, idField, params = "visitor", "visitorId", p
		case "accounts":
			kind, idField, params = "account", "accountId", p
		case "timeSeries":
		default:
			return nil, fmt.Errorf("Bad Request: unsupported source %q", name)
		}
	}
	if kind == "" {
		return nil, fmt.Errorf("Bad Request: source names no row source")
	}
	identifiedOnly := false
	if len(params) > 0 && string(params) != "null" {
		var p struct {
			Identified bool `json:"identified"`
		}
		if err := json.Unmarshal(params, &p); err != nil {
			return nil, fmt.Errorf("Bad Request: source %s parameters: %v", kind, err)
		}
		identifiedOnly = p.Identified
	}
	ents := s.entities(kind)
	rows := make([]map[string]any, 0, len(ents))
	for id, e := range ents {
		if identifiedOnly && isAnonymous(id) {
			continue
		}
		md := map[string]any{}
		for g, fields := range e.Metadata {
			cp := make(map[string]any, len(fields))
			for k, v := range fields {
				cp[k] = v
			}
			md[g] = cp
		}
		rows = append(rows, map[string]any{idField: id, "metadata": md})
	}
	// Pendo does not promise an order; the emulator sorts by id so that
	// tests are deterministic, and clients must still sort to page.
	slices.SortFunc(rows, func(a, b map[string]any) int { return strings.Compare(a[idField].(string), b[idField].(string)) })
	return rows, nil
}

// isAnonymous reports Pendo's anonymous visitor ids.
func isAnonymous(id string) bool { return strings.HasPrefix(id, "_PENDO_T_") }

func applyStep(rows []map[string]any, raw json.RawMessage) ([]map[string]any, error) {
	var step map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&step); err != nil || len(step) != 1 {
		return nil, fmt.Errorf("Bad Request: each pipeline step must be an object with one operator")
	}
	for op, arg := range step {
		switch op {
		case "identified":
			var field string
			if err := json.Unmarshal(arg, &field); err != nil {
				return nil, fmt.Errorf("Bad Request: identified takes a field name")
			}
			want := !strings.HasPrefix(field, "!")
			field = strings.TrimPrefix(field, "!")
			return slices.DeleteFunc(rows, func(r map[string]any) bool {
				id, _ := lookup(r, field).(string)
				return (id != "" && !isAnonymous(id)) != want
			}), nil
		case "filter":
			var text string
			if err := json.Unmarshal(arg, &text); err != nil {
				return nil, fmt.Errorf("Bad Request: filter takes an expression string")
			}
			expr, err := parseExpr(text)
			if err != nil {
				return nil, fmt.Errorf("Cannot parse filter expression: %v", err)
			}
			return slices.DeleteFunc(rows, func(r map[string]any) bool { return !truthy(expr.eval(r)) }), nil
		case "select":
			var fields map[string]string
			if err := json.Unmarshal(arg, &fields); err != nil {
				return nil, fmt.Errorf("Bad Request: select takes an object of output name to field path")
			}
			out := make([]map[string]any, len(rows))
			for i, r := range rows {
				o := make(map[string]any, len(fields))
				for name, path := range fields {
					o[name] = lookup(r, path)
				}
				out[i] = o
			}
			return out, nil
		case "sort":
			var keys []string
			if err := json.Unmarshal(arg, &keys); err != nil {
				return nil, fmt.Errorf("Bad Request: sort takes a list of field names")
			}
			slices.SortStableFunc(rows, func(a, b map[string]any) int {
				for _, k := range keys {
					desc := strings.HasPrefix(k, "-")
					k = strings.TrimPrefix(k, "-")
					c := compare(lookup(a, k), lookup(b, k))
					if desc {
						c = -c
					}
					if c != 0 {
						return c
					}
				}
				return 0
			})
			return rows, nil
		case "limit", "skip":
			var n int
			if err := json.Unmarshal(arg, &n); err != nil || n < 0 {
				return nil, fmt.Errorf("Bad Request: %s takes a non-negative integer", op)
			}
			if op == "limit" {
				return rows[:min(n, len(rows))], nil
			}
			return rows[min(n, len(rows)):], nil
		default:
			return nil, fmt.Errorf("Bad Request: pipeline operator %q is not supported by this emulator", op)
		}
	}
	return rows, nil
}

// lookup reads a dotted path from a row; missing parts read as nil.
func lookup(row map[string]any, path string) any {
	var cur any = row
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}
