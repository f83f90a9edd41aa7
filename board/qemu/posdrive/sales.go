package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// saleFile is one simplified-invoice body of the sales directory.
type saleFile struct {
	Name string
	Body map[string]any // decoded with json.Number for numbers
}

// ErrNoSales is returned when the sales directory holds no simplified invoice.
var ErrNoSales = errors.New("no simplified invoice (doc_type 388) in the sales directory")

// loadSales reads the *.json files of dir (not its subdirectories) in name order and
// keeps the simplified invoices (doc_type 388, as a string or a number): credit and
// debit notes need an invoice of this terminal to refer to.
func loadSales(dir string) ([]saleFile, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("load sales: %w", err)
	}
	sort.Strings(names)
	var out []saleFile
	for _, n := range names {
		raw, err := os.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("load sales: %w", err)
		}
		body, err := decodeObject(raw)
		if err != nil {
			return nil, fmt.Errorf("load sales: %s: %w", filepath.Base(n), err)
		}
		if fmt.Sprint(body["doc_type"]) != "388" {
			continue
		}
		out = append(out, saleFile{Name: filepath.Base(n), Body: body})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("load sales %s: %w", dir, ErrNoSales)
	}
	return out, nil
}

// decodeObject decodes one JSON object, keeping numbers as written.
func decodeObject(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("data after the JSON object")
	}
	if m == nil {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}

// saleKey is the idempotency key of sale i (from 1) of a run with prefix.
func saleKey(prefix string, i int) string { return fmt.Sprintf("%s%04d", prefix, i) }

// saleFor returns the file of sale i (from 1) and its body under key: the i-th file,
// cycling. The body is the file's with idempotency_key replaced, nothing else changed.
func saleFor(files []saleFile, i int, key string) (string, []byte, error) {
	if i < 1 {
		return "", nil, fmt.Errorf("sale number %d: sales count from 1", i)
	}
	f := files[(i-1)%len(files)]
	m := make(map[string]any, len(f.Body))
	for k, v := range f.Body {
		m[k] = v
	}
	m["idempotency_key"] = key
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return "", nil, fmt.Errorf("sale %d (%s): %w", i, f.Name, err)
	}
	return f.Name, b.Bytes(), nil
}

// latency summarises sale durations; percentiles are nearest-rank.
type latency struct {
	N                        int
	P50, P90, P99, Max, Mean time.Duration
}

func summarize(d []time.Duration) latency {
	if len(d) == 0 {
		return latency{}
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := func(p float64) time.Duration {
		k := int(math.Ceil(p*float64(len(s)))) - 1
		return s[max(0, min(k, len(s)-1))]
	}
	var sum time.Duration
	for _, v := range s {
		sum += v
	}
	return latency{N: len(s), P50: rank(0.50), P90: rank(0.90), P99: rank(0.99), Max: s[len(s)-1], Mean: sum / time.Duration(len(s))}
}
