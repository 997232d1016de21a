package connector

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as "5m", "8h" in a block.
type Duration struct{ time.Duration }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as 30m or 8h", n.Line, n.Value)
	}
	d.Duration = v
	return nil
}

// On reads an option that is true unless set false.
func On(b *bool) bool { return b == nil || *b }
