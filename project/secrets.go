package project

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/backflow-dev/backflow/pipeline"
)

// Secrets are a project's resolved credentials: environment variable →
// value.
type Secrets map[string]string

// Values lists the secrets that are set, for redaction.
func (s Secrets) Values() []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(s)) {
		if v := s[k]; v != "" {
			out = append(out, v)
		}
	}
	return out
}

// Secrets reads the credentials the configured connectors name through
// lookup (the CLI passes os.LookupEnv). A required one that is unset is an
// error naming the variable; the secrets found are returned with it.
func (p *Project) Secrets(lookup func(string) (string, bool)) (Secrets, error) {
	s := Secrets{}
	var missing []string
	for _, c := range p.Connectors {
		for _, sec := range c.Config.Secrets() {
			v, ok := lookup(sec.Env)
			if ok && v != "" {
				s[sec.Env] = v
				continue
			}
			if !sec.Optional {
				missing = append(missing, sec.Env+" ("+sec.What+")")
			}
		}
	}
	if len(missing) > 0 {
		return s, fmt.Errorf("missing credentials: set %s", strings.Join(missing, " and "))
	}
	return s, nil
}

// Pipeline is the project as a run takes it.
func (p *Project) Pipeline() *pipeline.Project {
	pp := &pipeline.Project{FS: p.FS, Dir: p.Dir, MaxRemoval: p.Config.MaxRemoval, FileMode: p.Config.Mode(), MemoryLimit: p.Config.MemoryLimit, Constants: map[string]string{}}
	pp.Identity.ContactIDProperty = p.Config.Identity.ContactVisitorIDProperty
	pp.Identity.CompanyAccountIDProperty = p.Config.Identity.CompanyAccountIDProperty
	// The shipped identity models join HubSpot and Pendo.
	pp.IdentityModels = p.Connector("hubspot") != nil && p.Connector("pendo") != nil
	for _, c := range p.Connectors {
		pp.Connectors = append(pp.Connectors, pipeline.Connector{Name: c.Name, Config: c.Config})
		for k, v := range c.Config.Constants() {
			pp.Constants[k] = v
		}
	}
	for _, s := range p.Syncs {
		pp.Syncs = append(pp.Syncs, pipeline.Sync{Spec: s.Spec, Destination: s.Destination, Object: s.Object, RateLimitShare: s.RateLimitShare, Target: s.Target})
	}
	return pp
}
