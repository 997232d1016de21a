package hubspottest

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxBatch is HubSpot's limit on inputs per batch call.
const maxBatch = 100

// typed adapts a handler of one object type: it holds s.mu and resolves
// the {objectType} path segment (400 when unknown) before calling h.
func (s *Server) typed(h func(rw *response, r *http.Request, t *objectType)) func(*response, *http.Request) {
	return func(rw *response, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if t := s.typeOf(rw, r); t != nil {
			h(rw, r, t)
		}
	}
}

// typedBatch is typed for batch endpoints: it decodes and bounds the inputs
// first, outside the lock.
func (s *Server) typedBatch(h func(rw *response, r *http.Request, t *objectType, b *batchBody)) func(*response, *http.Request) {
	return func(rw *response, r *http.Request) {
		b, ok := batchInputs(rw, r)
		if !ok {
			return
		}
		s.typed(func(rw *response, r *http.Request, t *objectType) { h(rw, r, t, b) })(rw, r)
	}
}

// notFound is the batch error entry for ids that match no record.
func notFound(t *objectType, ids []string) standardError {
	return newStandardError("OBJECT_NOT_FOUND",
		fmt.Sprintf("Could not get some %s objects, they may be deleted or not exist. Check that ids are valid.", t.singular()),
		map[string][]string{"ids": ids})
}

// written renders a written record, echoing the input's trace id.
func written(t *objectType, o *Object, props map[string]string, in objectInput) map[string]any {
	out := t.render(o, keys(props))
	if in.ObjectWriteTraceID != "" {
		out["objectWriteTraceId"] = in.ObjectWriteTraceID
	}
	return out
}

// typeOf resolves the {objectType} path segment, answering 400 as HubSpot
// does for an unknown one. Callers hold s.mu.
func (s *Server) typeOf(rw *response, r *http.Request) *objectType {
	name := r.PathValue("objectType")
	if t := s.objectType(name); t != nil {
		return t
	}
	rw.validation(fmt.Sprintf("Unable to infer object type from: %s", name))
	return nil
}

// find looks a record up by id, or by a unique property when idProperty is
// set. Emails compare case-insensitively, as HubSpot stores them. An
// archived record no longer holds its unique value for writes (a new
// contact may take a deleted one's email): a live record is found first,
// and an archived one only when none is live, for reads that ask for
// archived records; writers treat it as absent.
func (t *objectType) find(id, idProperty string) *Object {
	if idProperty == "" || idProperty == "hs_object_id" {
		return t.get(id)
	}
	var archived *Object
	for _, n := range t.ids {
		o := t.records[n]
		v, ok := o.Properties[idProperty]
		if ok && (v == id || idProperty == "email" && strings.EqualFold(v, id)) {
			if !o.Archived {
				return o
			}
			if archived == nil {
				archived = o
			}
		}
	}
	return archived
}

// findLive is find for writers: nil for an archived record.
func (t *objectType) findLive(id, idProperty string) *Object {
	if o := t.find(id, idProperty); o != nil && !o.Archived {
		return o
	}
	return nil
}

// uniqueProperty reports whether name can identify records: email for
// contacts, or a property with hasUniqueValue.
func (t *objectType) uniqueProperty(name string) bool {
	if name == "email" && t.name == "contacts" {
		return true
	}
	p, ok := t.property(name)
	return ok && p.HasUniqueValue
}

func (s *Server) newObject(t *objectType, props map[string]string, src ChangeSource) *Object {
	s.nextID++
	now := s.now()
	o := &Object{ID: strconv.FormatInt(s.nextID, 10), Properties: map[string]string{}, CreatedAt: now, UpdatedAt: now}
	for k, v := range props {
		if v != "" {
			o.Properties[k] = t.normalize(k, v)
			o.remember(k, o.Properties[k], now, src)
		}
	}
	t.stamp(o)
	t.records[s.nextID] = o
	t.ids = append(t.ids, s.nextID)
	return o
}

// applyProps writes properties as an API call does. HubSpot's lifecycle
// stage only moves forward through the API: setting an earlier stage than
// the record holds is ignored without an error (clear it first, in a
// separate call, to move it back). A user in HubSpot's UI can move it
// back; setProps is that.
func (s *Server) applyProps(t *objectType, o *Object, props map[string]string) {
	if v, ok := props["lifecyclestage"]; ok && v != "" && t.stageRank(v) < t.stageRank(o.Properties["lifecyclestage"]) {
		props = maps.Clone(props)
		delete(props, "lifecyclestage")
	}
	s.setProps(t, o, props, s.integration())
}

// stageRank is a lifecycle stage's place in the property's option order;
// -1 for none or an unknown one.
func (t *objectType) stageRank(stage string) int {
	p, ok := t.property("lifecyclestage")
	if !ok || stage == "" {
		return -1
	}
	return slices.IndexFunc(p.Options, func(o Option) bool { return o.Value == stage })
}

// setProps writes properties as a user in HubSpot's UI (or a workflow) does;
// each value written joins the property's history with its source.
func (s *Server) setProps(t *objectType, o *Object, props map[string]string, src ChangeSource) {
	now := s.now()
	defer func() {
		for k := range props {
			o.remember(k, o.Properties[k], now, src)
		}
	}()
	for k, v := range props {
		switch {
		case v == "":
			delete(o.Properties, k)
		case strings.HasPrefix(v, ";"):
			// A leading ; appends to a multi-checkbox instead of replacing.
			have := strings.Split(o.Properties[k], ";")
			for _, add := range strings.Split(v[1:], ";") {
				if add != "" && !slices.Contains(have, add) {
					have = append(have, add)
				}
			}
			o.Properties[k] = strings.Trim(strings.Join(have, ";"), ";")
		default:
			o.Properties[k] = t.normalize(k, v)
		}
	}
	o.UpdatedAt = s.now()
	t.stamp(o)
}

// conflict checks unique values (contact email, hasUniqueValue
// properties) against stored records other than self and against the
// other inputs of the batch; it returns HubSpot's 409 message.
func (t *objectType) conflict(props map[string]string, self *Object, batch map[string]map[string]bool) string {
	for name, v := range props {
		if v == "" || !t.uniqueProperty(name) {
			continue
		}
		key := v
		if name == "email" {
			key = strings.ToLower(v)
		}
		if batch != nil {
			if batch[name] == nil {
				batch[name] = map[string]bool{}
			}
			if batch[name][key] {
				return fmt.Sprintf("Duplicate %s values in batch input: %s", name, v)
			}
			batch[name][key] = true
		}
		if o := t.findLive(v, name); o != nil && o != self {
			if t.name == "contacts" && name == "email" {
				return "Contact already exists. Existing ID: " + o.ID
			}
			return fmt.Sprintf("A %s with %s %q already exists. Existing ID: %s", t.singular(), name, v, o.ID)
		}
	}
	return ""
}

func (t *objectType) missingRequired(props map[string]string) []string {
	var out []string
	for _, req := range t.required {
		if props[req] == "" {
			out = append(out, req)
		}
	}
	return out
}

// singular names the type in HubSpot's messages: CONTACT, COMPANY, ….
func (t *objectType) singular() string {
	switch t.name {
	case "companies":
		return "COMPANY"
	case "contacts", "deals", "tickets", "tasks":
		return strings.ToUpper(strings.TrimSuffix(t.name, "s"))
	}
	return strings.ToUpper(t.name)
}

func validationMessage(err error) (string, map[string][]string) {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Error(), nil
	}
	return err.Error(), nil
}

// --- single-record endpoints ---

func (s *Server) getObject(rw *response, r *http.Request, t *objectType) {
	q := r.URL.Query()
	o := t.find(r.PathValue("objectId"), q.Get("idProperty"))
	if o == nil || o.Archived != (q.Get("archived") == "true") {
		rw.error(http.StatusNotFound, apiError{Category: "OBJECT_NOT_FOUND", Message: "resource not found"})
		return
	}
	props := listParam(q, "properties")
	if len(props) == 0 {
		props = t.defaults
	}
	out := t.render(o, props)
	if h := listParam(q, "propertiesWithHistory"); len(h) > 0 {
		out["propertiesWithHistory"] = t.renderHistory(o, h)
	}
	rw.json(http.StatusOK, out)
}

type objectInput struct {
	ID                 string            `json:"id"`
	IDProperty         string            `json:"idProperty"`
	Properties         map[string]string `json:"properties"`
	ObjectWriteTraceID string            `json:"objectWriteTraceId"`
	Associations       []associationSpec `json:"associations"`
}

type associationSpec struct {
	To struct {
		ID string `json:"id"`
	} `json:"to"`
	Types []struct {
		AssociationCategory string `json:"associationCategory"`
		AssociationTypeID   int    `json:"associationTypeId"`
	} `json:"types"`
}

func (s *Server) createObject(rw *response, r *http.Request, t *objectType) {
	var in objectInput
	if !decode(rw, r, &in) {
		return
	}
	if err := s.validate(t, in.Properties); err != nil {
		msg, _ := validationMessage(err)
		rw.validation(msg)
		return
	}
	if miss := t.missingRequired(in.Properties); len(miss) > 0 {
		rw.validation(fmt.Sprintf("Missing required properties for %s: %s", t.singular(), strings.Join(miss, ", ")))
		return
	}
	if msg := t.conflict(in.Properties, nil, nil); msg != "" {
		rw.error(http.StatusConflict, apiError{Category: "CONFLICT", Message: msg})
		return
	}
	if msg := s.checkAssociations(t, in.Associations); msg != "" {
		rw.validation(msg)
		return
	}
	o := s.newObject(t, in.Properties, s.integration())
	s.associateSpecs(t, o, in.Associations)
	rw.json(http.StatusCreated, t.render(o, keys(in.Properties)))
}

func (s *Server) updateObject(rw *response, r *http.Request, t *objectType) {
	var in objectInput
	if !decode(rw, r, &in) {
		return
	}
	idProp := r.URL.Query().Get("idProperty")
	o := t.find(r.PathValue("objectId"), idProp)
	if o == nil || o.Archived {
		rw.error(http.StatusNotFound, apiError{Category: "OBJECT_NOT_FOUND", Message: "resource not found"})
		return
	}
	if err := s.validate(t, in.Properties); err != nil {
		msg, _ := validationMessage(err)
		rw.validation(msg)
		return
	}
	if msg := t.conflict(in.Properties, o, nil); msg != "" {
		rw.error(http.StatusConflict, apiError{Category: "CONFLICT", Message: msg})
		return
	}
	s.applyProps(t, o, in.Properties)
	rw.json(http.StatusOK, t.render(o, keys(in.Properties)))
}

func (s *Server) archiveObject(rw *response, r *http.Request, t *objectType) {
	if o := t.get(r.PathValue("objectId")); o != nil && !o.Archived {
		o.Archived, o.ArchivedAt = true, s.now()
		t.index(o, o.ArchivedAt)
	}
	rw.noContent() // 204 whether or not the record existed
}

// --- batch endpoints ---

// maxHistoryBatch is the most records one read with property history
// returns.
const maxHistoryBatch = 50

type batchBody struct {
	Inputs                []objectInput `json:"inputs"`
	Properties            []string      `json:"properties"`
	PropertiesWithHistory []string      `json:"propertiesWithHistory"`
	IDProperty            string        `json:"idProperty"`
}

// batchInputs decodes a batch body and enforces the input count.
func batchInputs(rw *response, r *http.Request) (*batchBody, bool) {
	var b batchBody
	if !decode(rw, r, &b) {
		return nil, false
	}
	if len(b.Inputs) == 0 {
		rw.validation("inputs: must not be empty")
		return nil, false
	}
	if len(b.Inputs) > maxBatch {
		rw.validation(fmt.Sprintf("Too many inputs: %d. The maximum is %d.", len(b.Inputs), maxBatch))
		return nil, false
	}
	return &b, true
}

// batchResult collects a batch's results and errors and writes the
// envelope: 200/201 when every input succeeded, 207 otherwise.
type batchResult struct {
	started time.Time
	results []map[string]any
	errors  []standardError
}

func (b *batchResult) write(rw *response, okStatus int, now time.Time) {
	b.writeWith(rw, okStatus, http.StatusMultiStatus, now)
}

// writeWith lets an endpoint report partial failure with its own status
// (batch associate answers 200 with errors; its spec has no 207).
func (b *batchResult) writeWith(rw *response, okStatus, partialStatus int, now time.Time) {
	// HubSpot does not keep input order; neither does the emulator, so that
	// no client can get away with reconciling by position.
	slices.SortFunc(b.results, func(x, y map[string]any) int {
		a, _ := strconv.ParseInt(x["id"].(string), 10, 64)
		c, _ := strconv.ParseInt(y["id"].(string), 10, 64)
		return int(c - a)
	})
	body := map[string]any{
		"status": "COMPLETE", "results": b.results, "startedAt": formatTime(b.started), "completedAt": formatTime(now),
		"requestedAt": formatTime(b.started), "links": map[string]string{},
	}
	if b.results == nil {
		body["results"] = []any{}
	}
	status := okStatus
	if len(b.errors) > 0 {
		body["numErrors"] = len(b.errors)
		body["errors"] = b.errors
		status = partialStatus
	}
	rw.json(status, body)
}

func (s *Server) batchRead(rw *response, r *http.Request, t *objectType, b *batchBody) {
	if b.IDProperty != "" && b.IDProperty != "hs_object_id" && !t.uniqueProperty(b.IDProperty) {
		rw.validation(fmt.Sprintf("%s is not a unique property of %s", b.IDProperty, t.name))
		return
	}
	if len(b.PropertiesWithHistory) > 0 && len(b.Inputs) > maxHistoryBatch {
		// The documented limit for paged reads with history; the emulator
		// holds batch reads to it too, the stricter choice.
		rw.validation(fmt.Sprintf("Too many inputs with propertiesWithHistory: %d. The maximum is %d.", len(b.Inputs), maxHistoryBatch))
		return
	}
	archived := r.URL.Query().Get("archived") == "true"
	props := b.Properties
	if len(props) == 0 {
		props = t.defaults
	}
	res := &batchResult{started: s.now()}
	var missing []string
	seen := map[string]bool{}
	for _, in := range b.Inputs {
		o := t.find(in.ID, b.IDProperty)
		if o == nil || o.Archived != archived {
			missing = append(missing, in.ID)
			continue
		}
		if seen[o.ID] {
			continue
		}
		seen[o.ID] = true
		out := t.render(o, props)
		if len(b.PropertiesWithHistory) > 0 {
			out["propertiesWithHistory"] = t.renderHistory(o, b.PropertiesWithHistory)
		}
		res.results = append(res.results, out)
	}
	if len(missing) > 0 {
		res.errors = append(res.errors, notFound(t, missing))
	}
	res.write(rw, http.StatusOK, s.now())
}

// inputError is a per-input failure: reported in a 207 when the input
// carries an objectWriteTraceId, otherwise it fails the whole batch.
type inputError struct {
	in       objectInput
	category string
	msg      string
	status   int
}

// rejectOrReport decides between HubSpot's two failure shapes. With no
// objectWriteTraceId on the failed inputs, HubSpot cannot say which input
// failed and rejects the batch whole (400, or 409 for conflicts); with
// one, it answers 207 and names each failed input in context.
func rejectOrReport(rw *response, errs []inputError, forceWhole bool) (report []standardError, answered bool) {
	for _, e := range errs {
		if e.in.ObjectWriteTraceID == "" || forceWhole {
			rw.error(e.status, apiError{Category: e.category, Message: e.msg})
			return nil, true
		}
	}
	for _, e := range errs {
		ctx := map[string][]string{"objectWriteTraceId": {e.in.ObjectWriteTraceID}}
		if e.in.ID != "" {
			ctx["ids"] = []string{e.in.ID}
		}
		report = append(report, newStandardError(e.category, e.msg, ctx))
	}
	return report, false
}

func (s *Server) batchCreate(rw *response, r *http.Request, t *objectType, b *batchBody) {
	var errs []inputError
	var good []objectInput
	unique := map[string]map[string]bool{}
	for _, in := range b.Inputs {
		if err := s.validate(t, in.Properties); err != nil {
			msg, _ := validationMessage(err)
			errs = append(errs, inputError{in, "VALIDATION_ERROR", msg, http.StatusBadRequest})
			continue
		}
		if miss := t.missingRequired(in.Properties); len(miss) > 0 {
			errs = append(errs, inputError{in, "VALIDATION_ERROR", fmt.Sprintf("Missing required properties for %s: %s", t.singular(), strings.Join(miss, ", ")), http.StatusBadRequest})
			continue
		}
		if msg := s.checkAssociations(t, in.Associations); msg != "" {
			errs = append(errs, inputError{in, "VALIDATION_ERROR", msg, http.StatusBadRequest})
			continue
		}
		if msg := t.conflict(in.Properties, nil, unique); msg != "" {
			// A duplicate always rejects the whole batch with 409.
			rw.error(http.StatusConflict, apiError{Category: "CONFLICT", Message: msg})
			return
		}
		good = append(good, in)
	}
	report, answered := rejectOrReport(rw, errs, false)
	if answered {
		return
	}
	res := &batchResult{started: s.now(), errors: report}
	for _, in := range good {
		o := s.newObject(t, in.Properties, s.integration())
		s.associateSpecs(t, o, in.Associations)
		res.results = append(res.results, written(t, o, in.Properties, in))
	}
	res.write(rw, http.StatusCreated, s.now())
}

func (s *Server) batchUpdate(rw *response, r *http.Request, t *objectType, b *batchBody) {
	if dups := duplicateIDs(b.Inputs); len(dups) > 0 {
		rw.validation(fmt.Sprintf("Duplicate IDs found in batch input: %v. IDs must be unique", dups))
		return
	}
	type upd struct {
		in objectInput
		o  *Object
	}
	var errs []inputError
	var good []upd
	var missing []string
	for _, in := range b.Inputs {
		o := t.find(in.ID, in.IDProperty)
		if o == nil || o.Archived {
			missing = append(missing, in.ID)
			continue
		}
		if err := s.validate(t, in.Properties); err != nil {
			msg, _ := validationMessage(err)
			errs = append(errs, inputError{in, "VALIDATION_ERROR", msg, http.StatusBadRequest})
			continue
		}
		if msg := t.conflict(in.Properties, o, nil); msg != "" {
			errs = append(errs, inputError{in, "CONFLICT", msg, http.StatusConflict})
			continue
		}
		good = append(good, upd{in, o})
	}
	report, answered := rejectOrReport(rw, errs, false)
	if answered {
		return
	}
	res := &batchResult{started: s.now(), errors: report}
	if len(missing) > 0 {
		res.errors = append(res.errors, notFound(t, missing))
	}
	for _, u := range good {
		s.applyProps(t, u.o, u.in.Properties)
		res.results = append(res.results, written(t, u.o, u.in.Properties, u.in))
	}
	res.write(rw, http.StatusOK, s.now())
}

func (s *Server) batchUpsert(rw *response, r *http.Request, t *objectType, b *batchBody) {
	emailKey := false
	for _, in := range b.Inputs {
		switch {
		case in.IDProperty == "":
			rw.validation("idProperty is required on every upsert input")
			return
		case in.IDProperty == "hs_object_id":
			rw.validation("hs_object_id cannot be used as the idProperty of an upsert; use a unique value property")
			return
		case !t.uniqueProperty(in.IDProperty):
			rw.validation(fmt.Sprintf("%s is not a unique value property of %s and cannot be used as idProperty", in.IDProperty, t.name))
			return
		}
		emailKey = emailKey || in.IDProperty == "email"
	}
	if dups := duplicateIDs(b.Inputs); len(dups) > 0 {
		rw.error(http.StatusConflict, apiError{Category: "CONFLICT", Message: fmt.Sprintf("Duplicate IDs found in batch input: %v", dups)})
		return
	}
	type up struct {
		in    objectInput
		o     *Object
		props map[string]string
	}
	var errs []inputError
	var good []up
	for _, in := range b.Inputs {
		props := map[string]string{}
		for k, v := range in.Properties {
			props[k] = v
		}
		o := t.findLive(in.ID, in.IDProperty) // an archived match is not upserted into: a new record is made
		if o == nil {
			props[in.IDProperty] = in.ID
		}
		if err := s.validate(t, in.Properties); err != nil {
			msg, _ := validationMessage(err)
			errs = append(errs, inputError{in, "VALIDATION_ERROR", msg, http.StatusBadRequest})
			continue
		}
		if o == nil {
			if miss := t.missingRequired(props); len(miss) > 0 {
				errs = append(errs, inputError{in, "VALIDATION_ERROR", fmt.Sprintf("Missing required properties for %s: %s", t.singular(), strings.Join(miss, ", ")), http.StatusBadRequest})
				continue
			}
		}
		good = append(good, up{in, o, props})
	}
	// Upserts keyed on email cannot partially succeed (HubSpot's contacts
	// guide): one failed input fails them all.
	report, answered := rejectOrReport(rw, errs, emailKey)
	if answered {
		return
	}
	res := &batchResult{started: s.now(), errors: report}
	for _, u := range good {
		created := u.o == nil
		if created {
			u.o = s.newObject(t, u.props, s.integration())
		} else {
			s.applyProps(t, u.o, u.props)
		}
		out := written(t, u.o, u.props, u.in)
		out["new"] = created
		res.results = append(res.results, out)
	}
	res.write(rw, http.StatusOK, s.now())
}

func (s *Server) batchArchive(rw *response, r *http.Request, t *objectType, b *batchBody) {
	for _, in := range b.Inputs {
		if o := t.get(in.ID); o != nil && !o.Archived {
			o.Archived, o.ArchivedAt = true, s.now()
			t.index(o, o.ArchivedAt)
		}
	}
	rw.noContent()
}

func duplicateIDs(inputs []objectInput) []string {
	seen := map[string]bool{}
	var dups []string
	for _, in := range inputs {
		k := in.IDProperty + "\x00" + in.ID
		if in.IDProperty == "email" {
			k = strings.ToLower(k)
		}
		if seen[k] && !slices.Contains(dups, in.ID) {
			dups = append(dups, in.ID)
		}
		seen[k] = true
	}
	return dups
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
