package hubspot

import (
	"errors"
	"fmt"
	"strings"
)

// ErrDailyLimit is returned (wrapped in *Error) when HubSpot answers 429 with
// policy DAILY: the account's daily budget is spent, and retrying before the
// account's midnight only burns error budget.
var ErrDailyLimit = errors.New("hubspot: daily API limit reached; rerun after midnight in the HubSpot account's time zone, or raise the limit")

// Error is a failed HubSpot call, decoded from HubSpot's error body. Every
// field but Status and Op may be empty: HubSpot documents them all as
// optional.
type Error struct {
	Op            string // "GET /crm/v3/objects/contacts"
	Status        int
	Category      string // VALIDATION_ERROR, INVALID_AUTHENTICATION, RATE_LIMITS, …
	SubCategory   string
	Message       string
	CorrelationID string
	PolicyName    string // on 429s: TEN_SECONDLY_ROLLING, SECONDLY, DAILY
	Context       map[string][]string
	Details       []ErrorDetail
}

// ErrorDetail is one entry of HubSpot's errors array.
type ErrorDetail struct {
	Message string              `json:"message"`
	In      string              `json:"in"`
	Code    string              `json:"code"`
	Context map[string][]string `json:"context"`
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "hubspot: %s: %d", e.Op, e.Status)
	if kind := e.kind(); kind != "" {
		b.WriteString(" " + kind)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.CorrelationID != "" {
		b.WriteString(" (correlation id " + e.CorrelationID + ")")
	}
	return b.String()
}

func (e *Error) kind() string {
	switch {
	case e.PolicyName != "":
		return e.PolicyName
	case e.Category != "":
		return e.Category
	}
	return ""
}

// Unwrap lets errors.Is(err, ErrDailyLimit) find daily-limit refusals.
// Temporary reports an answer that is not a refusal of the request: a
// 5xx, a 429, or anything outside 4xx (a redirect not followed). A retry
// later may succeed; the project need not change.
func (e *Error) Temporary() bool {
	return e.Status >= 500 || e.Status == 429 || e.Status < 400
}

func (e *Error) Unwrap() error {
	if e.Status == 429 && e.PolicyName == "DAILY" {
		return ErrDailyLimit
	}
	return nil
}

// apiErrorBody is HubSpot's error JSON.
type apiErrorBody struct {
	Status        string              `json:"status"`
	Message       string              `json:"message"`
	CorrelationID string              `json:"correlationId"`
	Category      string              `json:"category"`
	SubCategory   string              `json:"subCategory"`
	Context       map[string][]string `json:"context"`
	Errors        []ErrorDetail       `json:"errors"`
	ErrorType     string              `json:"errorType"`
	PolicyName    string              `json:"policyName"`
}
