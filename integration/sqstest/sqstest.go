// Package sqstest is a small stand-in for the Amazon SQS API, for tests: SendMessageBatch over
// the AWS JSON 1.0 protocol the SDK speaks (X-Amz-Target "AmazonSQS.SendMessageBatch",
// SigV4-signed, MD5OfMessageBody in the answer, which the SDK checks), so that an
// aws-sdk-go-v2 SQS client pointed at it with BaseEndpoint runs unmodified. The messages it
// accepted are returned by Messages, ready to be handed to a function as an SQS event.
package sqstest

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Message is one accepted message.
type Message struct {
	QueueURL  string
	MessageID string
	Body      string
}

// Server is the stand-in.
type Server struct {
	URL string

	mu       sync.Mutex
	messages []Message
	calls    int
}

// New starts the stand-in; it stops when the test ends.
func New(tb testing.TB) *Server {
	s := &Server{}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = srv.URL
	tb.Cleanup(srv.Close)
	return s
}

// Messages returns the messages accepted so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Calls counts the API requests answered.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, msg string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.sqs#" + code, "message": msg})
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") || !strings.Contains(auth, "/sqs/aws4_request") {
		fail(403, "InvalidClientTokenId", "missing or mis-scoped SigV4 signature")
		return
	}
	if r.Header.Get("X-Amz-Target") != "AmazonSQS.SendMessageBatch" {
		fail(400, "UnsupportedOperation", r.Header.Get("X-Amz-Target"))
		return
	}
	var in struct {
		QueueURL string `json:"QueueUrl"`
		Entries  []struct {
			ID          string `json:"Id"`
			MessageBody string `json:"MessageBody"`
		} `json:"Entries"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		fail(400, "InvalidParameterValue", err.Error())
		return
	}
	switch {
	case len(in.Entries) == 0:
		fail(400, "EmptyBatchRequest", "There should be at least one SendMessageBatchRequestEntry in the request.")
		return
	case len(in.Entries) > 10:
		fail(400, "TooManyEntriesInBatchRequest", fmt.Sprintf("Maximum number of entries per request are 10. You have sent %d.", len(in.Entries)))
		return
	}
	s.mu.Lock()
	s.calls++
	var ok []any
	for _, e := range in.Entries {
		id := fmt.Sprintf("sqstest-%d", len(s.messages))
		s.messages = append(s.messages, Message{QueueURL: in.QueueURL, MessageID: id, Body: e.MessageBody})
		sum := md5.Sum([]byte(e.MessageBody))
		ok = append(ok, map[string]string{"Id": e.ID, "MessageId": id, "MD5OfMessageBody": hex.EncodeToString(sum[:])})
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(map[string]any{"Successful": ok, "Failed": []any{}})
}
