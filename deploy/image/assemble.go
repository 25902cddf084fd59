package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Epoch is the time every file and the image carry: a fixed time, as
// SOURCE_DATE_EPOCH=0 gives, so the same inputs give the same digest.
var Epoch = time.Unix(0, 0).UTC()

// Source maps a path in the stage a COPY names (--from) to the file or
// directory on this machine that holds what that stage would have there.
type Source func(stage, path string) (string, error)

// Assemble builds the image a scratch-based stage describes: one layer per
// COPY (as a builder makes them), then the stage's configuration, OCI media
// types, for the platform linux/arch.
func Assemble(st Stage, src Source, arch string) (v1.Image, error) {
	if st.Base != "scratch" {
		return nil, fmt.Errorf("base %q: only a scratch stage can be assembled without its base image", st.Base)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	var history []v1.History
	for _, cp := range st.Copies {
		b, err := copyLayer(cp, src)
		if err != nil {
			return nil, fmt.Errorf("COPY %s %s: %w", strings.Join(cp.Sources, " "), cp.Dest, err)
		}
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
			tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return nil, err
		}
		if img, err = mutate.AppendLayers(img, layer); err != nil {
			return nil, err
		}
		history = append(history, v1.History{Created: v1.Time{Time: Epoch}, CreatedBy: "COPY --from=" + cp.From + " " + strings.Join(cp.Sources, " ") + " " + cp.Dest})
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Config = st.Config
	cf.OS, cf.Architecture = "linux", arch
	cf.Created = v1.Time{Time: Epoch}
	cf.History = history
	return mutate.ConfigFile(img, cf)
}

// copyLayer is the tar a COPY adds: a directory source's contents go into
// Dest, a file goes to Dest (or into it when Dest ends in "/"); parent
// directories are root's, the copied files --chown's.
func copyLayer(cp Copy, src Source) ([]byte, error) {
	uid, gid, err := parseChown(cp.Chown)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	made := map[string]bool{}
	var parents func(dir string) error
	parents = func(dir string) error {
		if dir == "/" || dir == "." || made[dir] {
			return nil
		}
		if err := parents(path.Dir(dir)); err != nil {
			return err
		}
		made[dir] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(dir, "/") + "/", Mode: 0o755, ModTime: Epoch, Format: tar.FormatPAX})
	}
	add := func(host, dest string, fi fs.FileInfo) error {
		if err := parents(path.Dir(dest)); err != nil {
			return err
		}
		h := &tar.Header{Name: strings.TrimPrefix(dest, "/"), Mode: int64(fi.Mode().Perm()), Uid: uid, Gid: gid, ModTime: Epoch, Format: tar.FormatPAX}
		switch {
		case fi.IsDir():
			made[dest] = true
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
			return tw.WriteHeader(h)
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(host)
			if err != nil {
				return err
			}
			h.Typeflag, h.Size = tar.TypeReg, int64(len(b))
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			_, err = tw.Write(b)
			return err
		}
		return fmt.Errorf("%s: only files and directories are copied", host)
	}
	for _, s := range cp.Sources {
		host, err := src(cp.From, s)
		if err != nil {
			return nil, err
		}
		fi, err := os.Stat(host) // a COPY follows a symlinked source
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			dest := cp.Dest
			if strings.HasSuffix(dest, "/") {
				dest = path.Join(dest, path.Base(s))
			}
			if err := add(host, path.Clean(dest), fi); err != nil {
				return nil, err
			}
			continue
		}
		err = filepath.WalkDir(host, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(host, p)
			fi, err := d.Info()
			if err != nil {
				return err
			}
			return add(p, path.Join(cp.Dest, filepath.ToSlash(rel)), fi)
		})
		if err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// parseChown reads --chown=UID:GID; names would need the stage's
// /etc/passwd, so only numbers are taken.
func parseChown(s string) (uid, gid int, err error) {
	if s == "" {
		return 0, 0, nil
	}
	u, g, ok := strings.Cut(s, ":")
	if !ok {
		g = u
	}
	if uid, err = strconv.Atoi(u); err == nil {
		gid, err = strconv.Atoi(g)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("--chown=%s: want numeric UID:GID", s)
	}
	return uid, gid, nil
}
