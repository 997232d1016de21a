package models

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// MatchCount is one line of a match report.
type MatchCount struct {
	Model, Rule, Status string
	Count               int64
}

// MatchReport counts an identity model's rows by rule and status.
func MatchReport(ctx context.Context, db *sqlx.DB, model string) ([]MatchCount, error) {
	rows, err := db.QueryContext(ctx, `SELECT coalesce(rule, '-'), status, count(*) FROM models.`+quote(model)+` GROUP BY ALL ORDER BY 2, 1`)
	if err != nil {
		return nil, fmt.Errorf("match report of %s: %w", model, err)
	}
	defer rows.Close()
	var out []MatchCount
	for rows.Next() {
		c := MatchCount{Model: model}
		if err := rows.Scan(&c.Rule, &c.Status, &c.Count); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
