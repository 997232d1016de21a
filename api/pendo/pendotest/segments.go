package pendotest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Segments (shared/reference/pendo-segments-webhooks.md §1–2): shared
// segments listed by GET /api/v1/segment, one by GET /api/v1/segment/{id},
// members read by aggregation with a {"segment": {"id": …}} step, which
// keeps the visitors Pendo knows that are members. A segment is a rule
// over visitor metadata (set from Go) or an uploaded list of ids; an
// uploaded id Pendo has never seen is a member no aggregation returns,
// as on Pendo. Unconfirmed, so strict: an unknown segment id in an
// aggregation is a 400, not an empty answer.

// Segment is a segment as the emulator keeps it.
type Segment struct {
	ID, Name     string
	CreatedByAPI bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// Rule decides a rule segment's members from a visitor's metadata;
	// nil for an uploaded segment, whose members are Uploaded.
	Rule     func(metadata map[string]map[string]any) bool
	Uploaded map[string]bool
}

// AddSegment adds a rule segment, shared with everyone, and returns its id.
func (s *Server) AddSegment(name string, rule func(metadata map[string]map[string]any) bool) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addSegment(&Segment{Name: name, Rule: rule})
}

// AddUploadedSegment adds a segment of the visitor ids given (a CSV
// upload), and returns its id.
func (s *Server) AddUploadedSegment(name string, visitors ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	seg := &Segment{Name: name, Uploaded: map[string]bool{}}
	for _, v := range visitors {
		seg.Uploaded[v] = true
	}
	return s.addSegment(seg)
}

// SetSegmentMembers replaces an uploaded segment's visitors.
func (s *Server) SetSegmentMembers(id string, visitors ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	seg := s.segments[id]
	if seg == nil || seg.Rule != nil {
		return fmt.Errorf("pendotest: no uploaded segment %s", id)
	}
	seg.Uploaded = map[string]bool{}
	for _, v := range visitors {
		seg.Uploaded[v] = true
	}
	seg.UpdatedAt = s.now()
	return nil
}

// AddToSegment and RemoveFromSegment change an uploaded segment's
// visitors, as a new CSV upload would.
func (s *Server) AddToSegment(id string, visitors ...string) error {
	return s.editSegment(id, visitors, true)
}

func (s *Server) RemoveFromSegment(id string, visitors ...string) error {
	return s.editSegment(id, visitors, false)
}

func (s *Server) editSegment(id string, visitors []string, add bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	seg := s.segments[id]
	if seg == nil || seg.Rule != nil {
		return fmt.Errorf("pendotest: no uploaded segment %s", id)
	}
	for _, v := range visitors {
		if add {
			seg.Uploaded[v] = true
		} else {
			delete(seg.Uploaded, v)
		}
	}
	seg.UpdatedAt = s.now()
	return nil
}

// RenameSegment renames a segment, as its owner does in Pendo.
func (s *Server) RenameSegment(id, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	seg := s.segments[id]
	if seg == nil {
		return fmt.Errorf("pendotest: no segment %s", id)
	}
	seg.Name, seg.UpdatedAt = name, s.now()
	return nil
}

// SegmentByName returns the id of the segment called name.
func (s *Server) SegmentByName(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, seg := range s.segments {
		if seg.Name == name {
			return id, true
		}
	}
	return "", false
}

// SegmentMembers lists the visitors Pendo knows that are members, sorted.
func (s *Server) SegmentMembers(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for vid := range s.visitors {
		if s.isMember(s.segments[id], vid) {
			out = append(out, vid)
		}
	}
	slices.Sort(out)
	return out
}

// addSegment is called with s.mu held.
func (s *Server) addSegment(seg *Segment) string {
	if s.segments == nil {
		s.segments = map[string]*Segment{}
	}
	// Pendo's ids are opaque strings; these sort in creation order.
	seg.ID = fmt.Sprintf("seg%05d%s", len(s.segments)+1, shortHash(seg.Name))
	seg.CreatedAt, seg.UpdatedAt = s.now(), s.now()
	s.segments[seg.ID] = seg
	return seg.ID
}

// isMember is called with s.mu held.
func (s *Server) isMember(seg *Segment, visitorID string) bool {
	if seg == nil {
		return false
	}
	if seg.Rule == nil {
		return seg.Uploaded[visitorID]
	}
	v := s.visitors[visitorID]
	return v != nil && seg.Rule(v.Metadata)
}

func (s *Server) segmentJSON(seg *Segment) map[string]any {
	return map[string]any{"id": seg.ID, "name": seg.Name, "kind": "Segment", "createdAt": seg.CreatedAt.UnixMilli(),
		"lastUpdatedAt": seg.UpdatedAt.UnixMilli(), "createdByApi": seg.CreatedByAPI, "definition": map[string]any{},
		"pipeline": []any{}, "dependentMetadata": []any{}, "isFocusGroup": false}
}

// listSegments serves GET /api/v1/segment[?createdByApi=true]: a JSON
// array, in creation order.
func (s *Server) listSegments(w http.ResponseWriter, r *http.Request) {
	apiOnly, _ := strconv.ParseBool(r.URL.Query().Get("createdByApi"))
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	ids := make([]string, 0, len(s.segments))
	for id := range s.segments {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if seg := s.segments[id]; !apiOnly || seg.CreatedByAPI {
			out = append(out, s.segmentJSON(seg))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// getSegment serves GET /api/v1/segment/{id}.
func (s *Server) getSegment(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seg := s.segments[id]
	if seg == nil {
		http.Error(w, "segment not found", http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, s.segmentJSON(seg))
}
