package demo

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/backflow-dev/backflow/api/pendo/pendotest"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/warehouse"
)

// Verify checks that the DuckDB file and the Pendo emulator agree for a
// sync to visitor custom metadata: every value in the snapshot is what the
// emulator holds, and every row sync_rows records as applied is in the
// snapshot. It returns how many visitors it compared.
func Verify(ctx context.Context, dbPath, sync string, emu *pendotest.Server) (int, error) {
	w, err := warehouse.Open(ctx, dbPath, warehouse.Options{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer w.Close()
	snapshot := load.SnapshotTable(sync)
	var orphans int
	if err := w.DB().QueryRowContext(ctx, `SELECT count(*) FROM backflow.sync_rows r ANTI JOIN `+snapshot+` s USING (key)
		WHERE r.sync = ? AND r.status = 'applied'`, sync).Scan(&orphans); err != nil {
		return 0, fmt.Errorf("verify: %w", err)
	}
	if orphans > 0 {
		return 0, fmt.Errorf("verify: %d rows recorded as applied are missing from %s", orphans, snapshot)
	}
	rows, err := w.DB().QueryContext(ctx, `SELECT key, payload::VARCHAR FROM `+snapshot+` WHERE payload IS NOT NULL ORDER BY key`)
	if err != nil {
		return 0, fmt.Errorf("verify: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var key, payload string
		if err := rows.Scan(&key, &payload); err != nil {
			return n, err
		}
		md, ok := emu.Visitor(key)
		if !ok {
			continue // deleted in Pendo after it was pushed
		}
		var want map[string]any
		if err := json.Unmarshal([]byte(payload), &want); err != nil {
			return n, fmt.Errorf("verify: snapshot payload of %s: %w", key, err)
		}
		for field, v := range want {
			got, _ := json.Marshal(md["custom"][field])
			exp, _ := json.Marshal(v)
			if string(got) != string(exp) {
				return n, fmt.Errorf("verify: visitor %s field %s is %s in Pendo but %s in the snapshot", key, field, got, exp)
			}
		}
		n++
	}
	return n, rows.Err()
}
