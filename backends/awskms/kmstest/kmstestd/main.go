package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/tokenbroker/tokenbroker/backends/awskms/kmstest"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:4599", "address")
	ak := flag.String("access-key", "AKIDKMSTESTD", "the access key requests must be signed with")
	sk := flag.String("secret-key", "kmstestd-secret", "its secret key")
	region := flag.String("region", "us-east-1", "region")
	delay := flag.Duration("sign-delay", 0, "how long each Sign takes (a KMS round trip)")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kmstestd:", err)
		os.Exit(2)
	}
	srv := kmstest.NewOn(ln, *ak, *sk, *region)
	srv.SetSignDelay(*delay)
	fmt.Println("kmstestd: listening on", srv.URL)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	<-ctx.Done()
	stop()
	for _, op := range []string{"Sign", "GetPublicKey", "DescribeKey", "ListAliases", "CreateKey", "CreateAlias", "UpdateAlias"} {
		fmt.Printf("%s %d\n", op, srv.Calls(op))
	}
	srv.Close()
}
