// Package notify posts run summaries to a webhook, shaped so that a Slack
// incoming webhook shows them (a "text" field) while other receivers get
// the structured summary too.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Message is what is posted: Text for people (Slack shows it), Run for
// programs.
type Message struct {
	Text string `json:"text"`
	Run  any    `json:"run,omitempty"`
}

// Timeout bounds one post, answer included: a webhook that hangs must not
// hold a finished run open.
const Timeout = 10 * time.Second

// Post sends m to the webhook, within Timeout. Webhook URLs are
// credentials (Slack's carry their secret in the path), so errors never
// include the URL.
func Post(ctx context.Context, client *http.Client, webhook string, m Message) error {
	if client == nil {
		client = http.DefaultClient
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("notify: encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhook, bytes.NewReader(body))
	if err != nil {
		return errors.New("notify: the webhook URL is not valid")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("notify: post to the webhook: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("notify: the webhook answered %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}
