// Package clientcli holds what the command-line clients of a broker share
// (tokenbroker token, inspect, demo, assertion, and tokenbroker-bench):
// the flags that locate a broker and trust it, a client's credentials on
// the command line, and RFC 7523 assertion minting.
//
//	var isf clientcli.IssuerFlags
//	var cf clientcli.CredFlags
//	isf.Register(fs)
//	cf.Register(fs)
//	fs.Parse(args)
//	creds, err := cf.Load()
package clientcli
