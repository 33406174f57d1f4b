package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bgtask/bgtask/internal/quote"
)

// Bounds of reading a refused body before closing the connection (see
// drain).
const (
	// drainBytes is the most of a refused body read (and discarded).
	drainBytes = 8 << 20
	// drainTime bounds that reading.
	drainTime = 5 * time.Second
)

// errStopping is the error of a body read cut short by BeginShutdown.
var errStopping = &apiError{status: http.StatusServiceUnavailable, code: CodeUnavailable, msg: "server stopping"}

// readBody reads a request body of at most MaxBodyBytes. The size is
// checked before anything else: an oversized body is 413 whatever it
// holds. BeginShutdown cuts a read in progress short (errStopping).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBodyBytes {
		return nil, &http.MaxBytesError{Limit: MaxBodyBytes}
	}
	rc := http.NewResponseController(w)
	stop := context.AfterFunc(s.stopping(), func() { _ = rc.SetReadDeadline(time.Now()) })
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if !stop() && s.stopping().Err() != nil && err != nil {
		return nil, errStopping
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, readTimeout(r)
		}
		return nil, badRequest(CodeBadRequest, "cannot read body: "+err.Error())
	}
	return data, nil
}

// readTimeout is the error of a body that did not arrive within the
// server's ReadTimeout (408).
func readTimeout(r *http.Request) error {
	msg := "request body not received in time"
	if srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok && srv.ReadTimeout > 0 {
		msg = "request body not received within " + srv.ReadTimeout.String()
	}
	return &apiError{status: http.StatusRequestTimeout, code: CodeRequestTimeout, msg: msg}
}

// drain answers a request whose body was not read (or not to its end)
// and then reads and discards up to drainBytes of the rest, for at most
// drainTime, before the connection is closed. A client still sending its
// body then reads the answer instead of a connection reset (the kernel
// resets a connection closed with unread data). write writes the answer.
func drain(w http.ResponseWriter, r *http.Request, write func()) {
	rc := http.NewResponseController(w)
	_ = rc.EnableFullDuplex()
	w.Header().Set("Connection", "close")
	write()
	_ = rc.Flush()
	_ = rc.SetReadDeadline(time.Now().Add(drainTime))
	_, _ = io.CopyN(io.Discard, r.Body, drainBytes)
}

// fieldFunc decodes the value of one object member.
type fieldFunc func(dec *json.Decoder) error

// decodeObject decodes one JSON object, strictly: valid UTF-8 with no lone
// surrogate escapes, member names matched exactly against fields (case
// included), no member twice, no null, nothing after the object. The
// standard decoder accepts "NAME" for "name", keeps the last of two equal
// names, turns null in a []string into "" and invalid UTF-8 into U+FFFD.
func decodeObject(data []byte, fields map[string]fieldFunc) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return badRequest(CodeInvalidJSON, "empty body: want a JSON object")
	}
	if !utf8.Valid(data) {
		return badRequest(CodeInvalidJSON, "body is not valid UTF-8")
	}
	if err := checkSurrogates(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return malformed(err, "want a JSON object")
	}
	seen := make(map[string]bool, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return malformed(err, "")
		}
		name, _ := tok.(string)
		f, ok := fields[name]
		switch {
		case !ok:
			return badRequest(CodeInvalidJSON, fmt.Sprintf("unknown field %s (names are case-sensitive)", quote.Q(name)))
		case seen[name]:
			return badRequest(CodeInvalidJSON, fmt.Sprintf("field %s given twice", quote.Q(name)))
		}
		seen[name] = true
		if err := f(dec); err != nil {
			return malformed(err, "field "+quote.Q(name))
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return malformed(err, "")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest(CodeInvalidJSON, "malformed JSON: data after the object")
	}
	return nil
}

// malformed wraps a decoding error as invalid_json.
func malformed(err error, what string) error {
	var ae *apiError
	if errors.As(err, &ae) {
		return err
	}
	msg := "malformed JSON"
	if what != "" {
		msg += ": " + what
	}
	if err != nil {
		msg += ": " + err.Error()
	}
	return badRequest(CodeInvalidJSON, msg)
}

// stringField decodes a JSON string (not null) into dst.
func stringField(dst *string) fieldFunc {
	return func(dec *json.Decoder) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		s, ok := tok.(string)
		if !ok {
			return fmt.Errorf("want a string, got %s", describe(tok))
		}
		*dst = s
		return nil
	}
}

// durationField is stringField for a duration: "" is refused (leave the
// field out for the default), as the CLI refuses --timeout "", so that an
// empty value from a client's template is not silently the default.
func durationField(dst *string) fieldFunc {
	str := stringField(dst)
	return func(dec *json.Decoder) error {
		if err := str(dec); err != nil {
			return err
		}
		if *dst == "" {
			return errors.New("want a duration, got \"\" (leave the field out for the default)")
		}
		return nil
	}
}

// optionalField is stringField for an optional member whose "" would mean
// the same as leaving it out (priority, idempotency_key): refused, as the
// CLI refuses an empty --priority, and as "timeout": "" is, so that every member
// follows one rule.
func optionalField(dst *string) fieldFunc {
	str := stringField(dst)
	return func(dec *json.Decoder) error {
		if err := str(dec); err != nil {
			return err
		}
		if strings.TrimSpace(*dst) == "" {
			return fmt.Errorf("want a value, got %s (leave the field out for the default)", quote.Q(*dst))
		}
		return nil
	}
}

// stringsField decodes a JSON array of strings (no null, in or instead
// of the array) into dst.
func stringsField(dst *[]string) fieldFunc {
	return func(dec *json.Decoder) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if tok != json.Delim('[') {
			return fmt.Errorf("want an array of strings, got %s", describe(tok))
		}
		out := []string{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			s, ok := tok.(string)
			if !ok {
				return fmt.Errorf("element %d: want a string, got %s", len(out), describe(tok))
			}
			out = append(out, s)
		}
		if _, err := dec.Token(); err != nil {
			return err
		}
		*dst = out
		return nil
	}
}

// describe names a token's JSON kind for messages.
func describe(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64, json.Number:
		return "a number"
	case json.Delim:
		if v == '{' {
			return "an object"
		}
		return "an array"
	}
	return fmt.Sprintf("%T", tok)
}

// checkSurrogates refuses \u escapes that encode no character: a lone
// high or low surrogate (the standard decoder turns them into U+FFFD).
// data is valid UTF-8; a backslash outside strings is a syntax error the
// decoder reports anyway.
func checkSurrogates(data []byte) error {
	for i := 0; i < len(data); i++ {
		if data[i] != '\\' {
			continue
		}
		if i+1 >= len(data) || data[i+1] != 'u' {
			i++ // a two-character escape: skip its second character
			continue
		}
		r, ok := hex4(data, i+2)
		if !ok {
			return nil // malformed: the decoder says so
		}
		i += 5
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return badRequest(CodeInvalidJSON, "invalid UTF-16 in a \\u escape: lone low surrogate")
		case r >= 0xD800 && r <= 0xDBFF:
			lo, ok := rune(0), i+2 < len(data) && data[i+1] == '\\' && data[i+2] == 'u'
			if ok {
				lo, ok = hex4(data, i+3)
			}
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return badRequest(CodeInvalidJSON, "invalid UTF-16 in a \\u escape: lone high surrogate")
			}
			i += 6
		}
	}
	return nil
}

// hex4 parses the 4 hex digits at data[i:].
func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
