// Package spiretest starts a real SPIRE (server and agent, v1.13.3 as built
// by .ci/spire-tool) for tests: the server on sqlite3 with join-token node
// attestation, an in-memory key manager, short CA and SVID lifetimes and a
// bundle endpoint (https_spiffe profile); the agent attested with a join
// token, with the unix workload attestor and its Workload API socket in a
// temporary directory. Entries are created with the server CLI
// (unix:uid:<uid> selectors), and the CA and JWT authorities can be rotated
// on demand (spire-server localauthority prepare/activate).
//
// Binaries come from TB_TEST_SPIRE_DIR or the build cache
// (~/.cache/tokenbroker/spire-v1.13.3); without them a test is skipped, or
// fails when TB_TEST_REQUIRE_SPIRE is set (as .ci/test sets it).
//
//	s := spiretest.Start(t, spiretest.TrustDomain("spire.test"))
//	s.CreateEntry(t, "spiffe://spire.test/workload", fmt.Sprintf("unix:uid:%d", os.Getuid()), time.Minute)
//	src, err := workloadapi.NewX509Source(ctx, workloadapi.WithClientOptions(workloadapi.WithAddr(s.WorkloadAPI())))
package spiretest
