package models

import (
	"fmt"
	"strings"
)

// Select picks models from the ordered list: "name", "+name" (with its
// upstream), "name+" (with its downstream), "+name+". With no selectors it
// picks every project model and the shipped models they read. The result
// keeps dependency order.
func Select(ordered []Model, selectors []string) ([]Model, error) {
	byName := map[string]Model{}
	children := map[string][]string{}
	for _, m := range ordered {
		byName[m.Name] = m
		for _, d := range m.Depends {
			children[d] = append(children[d], m.Name)
		}
	}
	pick := map[string]bool{}
	var walk func(name string, next func(string) []string)
	walk = func(name string, next func(string) []string) {
		for _, n := range next(name) {
			if !pick[n] {
				pick[n] = true
				walk(n, next)
			}
		}
	}
	up := func(n string) []string { return byName[n].Depends }
	down := func(n string) []string { return children[n] }
	if len(selectors) == 0 {
		for _, m := range ordered {
			if !m.Shipped {
				pick[m.Name] = true
				walk(m.Name, up)
			}
		}
	}
	for _, sel := range selectors {
		name := strings.TrimSuffix(strings.TrimPrefix(sel, "+"), "+")
		if _, ok := byName[name]; !ok {
			return nil, fmt.Errorf("--select %s: no model named %q", sel, name)
		}
		pick[name] = true
		if strings.HasPrefix(sel, "+") {
			walk(name, up)
		}
		if strings.HasSuffix(sel, "+") {
			walk(name, down)
		}
	}
	var out []Model
	for _, m := range ordered {
		if pick[m.Name] {
			out = append(out, m)
		}
	}
	return out, nil
}

// Graph renders the dependency graph as text: each model with what it
// reads, in build order.
func Graph(ordered []Model) string {
	var b strings.Builder
	for _, m := range ordered {
		kind := m.Materialized
		if m.Shipped {
			kind += ", shipped"
		}
		fmt.Fprintf(&b, "%s (%s)\n", m.Name, kind)
		for i, d := range m.Depends {
			branch := "├── "
			if i == len(m.Depends)-1 {
				branch = "└── "
			}
			fmt.Fprintf(&b, "  %sreads models.%s\n", branch, d)
		}
	}
	return b.String()
}
