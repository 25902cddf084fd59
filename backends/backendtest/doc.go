// Package backendtest is the conformance suite every tokenbroker backend must
// pass. A backend's own test calls Run with a constructor for an empty store:
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, func(t *testing.T) backends.Store { … })
//	}
package backendtest
