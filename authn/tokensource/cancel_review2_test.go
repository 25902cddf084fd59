package tokensource_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/authn/tokensource"
)

// Review 2: concurrent TokenContext calls share one token request, and that
// request runs on the first caller's context ("as if it ran alone"). A
// caller with a short deadline (a health check, a request the user
// abandoned) that happens to arrive first fails the token request for every
// concurrent caller, however long they were willing to wait. The jwks_uri
// fetcher was fixed for exactly this (issue 11 item 9): the shared fetch
// should run detached, bounded by Config.Timeout.
func TestReview2FirstCallersCancelFailsEveryone(t *testing.T) {
	broker := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond) // a busy broker
		tokenJSON(w, "tok")
	})
	src, err := tokensource.New(tokensource.Config{TokenURL: broker.URL + "/token", ClientID: "c", Secret: "s3cret", RootCAs: pool(t), Retries: 0})
	if err != nil {
		t.Fatal(err)
	}
	impatient, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	go src.TokenContext(impatient)
	time.Sleep(20 * time.Millisecond) // the shared request is in flight
	patient, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if tok, err := src.TokenContext(patient); err != nil || tok.AccessToken != "tok" {
		t.Fatalf("a caller willing to wait 10 s got %v, %v: the first caller's 50 ms deadline failed the shared token request", tok, err)
	}
}
