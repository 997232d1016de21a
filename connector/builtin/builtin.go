// Package builtin is the table of the connectors backflow ships: the one
// place a new connector is added.
package builtin

import (
	"github.com/backflow-dev/backflow/connector"
	"github.com/backflow-dev/backflow/connector/hubspot"
	"github.com/backflow-dev/backflow/connector/pendo"
)

// Connectors lists the shipped connectors, in the order a run extracts
// from them.
func Connectors() []connector.Connector {
	return []connector.Connector{
		hubspot.Connector{},
		pendo.Connector{},
	}
}
