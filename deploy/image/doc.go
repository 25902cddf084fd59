// Package image reads deploy/Containerfile with BuildKit's own parser and
// assembles its final stage without a container engine, with
// go-containerregistry: the layers its COPY instructions describe and the
// configuration its USER, WORKDIR, ENV, EXPOSE, LABEL, HEALTHCHECK,
// ENTRYPOINT and CMD set. The tests build the binary with the build stage's
// own go build command, assemble the image, and inspect and run what is in
// it, so the definition and what is checked cannot drift apart.
//
//	cf, err := image.Parse(f, map[string]string{"TARGETARCH": runtime.GOARCH})
//	if err != nil {
//		return err
//	}
//	build := cf.GoBuild // the build stage's "go build" and its ENV
//	img, err := image.Assemble(cf.Final, func(stagePath string) string {
//		return filepath.Join(buildOut, strings.TrimPrefix(stagePath, "/out/"))
//	}, runtime.GOARCH)
//
// It lives in the deploy module (deploy/go.mod), so the product's go.mod
// never carries BuildKit or go-containerregistry.
package image
