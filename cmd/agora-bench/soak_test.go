package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestSoak runs `agora-bench soak` for a few seconds: the stored state and
// what every host received must agree exactly, with no growth in
// goroutines or open files.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("a 10 s soak; skipped with -short")
	}
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"soak", "--duration", "8s", "--settle", "30s"}, &out, &errOut,
		func(string) string { return "" })
	t.Log(out.String())
	if errOut.Len() > 0 {
		t.Log(errOut.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var fig map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &fig); err != nil {
		t.Fatalf("last line is not JSON: %v", err)
	}
	for _, k := range []string{"missing", "dup", "unexpected", "invalid", "state_mismatches"} {
		if fig[k] != 0.0 {
			t.Errorf("%s = %v, want 0", k, fig[k])
		}
	}
	// The run must have exercised what it checks: announces, withdrawals,
	// and retries to the failing hosts.
	for _, k := range []string{"expected", "announced", "withdrawn", "retried", "leaves", "edits"} {
		if v, _ := fig[k].(float64); v < 1 {
			t.Errorf("%s = %v: the run did not exercise it", k, fig[k])
		}
	}
	if fig["ok"] != true {
		t.Error("ok is not true")
	}
}
