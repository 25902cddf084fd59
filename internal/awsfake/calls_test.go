package awsfake

import (
	"sync"
	"testing"
)

func TestCalls(t *testing.T) {
	var c Calls
	if c.Get("") != 0 || c.Get("Sign") != 0 {
		t.Fatal("zero value counts something")
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(2)
		go func() { defer wg.Done(); c.Add("Sign") }()
		go func() { defer wg.Done(); c.Add("GetPublicKey") }()
	}
	wg.Wait()
	if c.Get("Sign") != 50 || c.Get("GetPublicKey") != 50 || c.Get("") != 100 || c.Get("Other") != 0 {
		t.Fatalf("counts: %d %d %d", c.Get("Sign"), c.Get("GetPublicKey"), c.Get(""))
	}
}
