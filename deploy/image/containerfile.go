package image

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Containerfile is what the tests need of deploy/Containerfile.
type Containerfile struct {
	// GoBuild is the build stage's `RUN ["go", "build", …]`.
	GoBuild Command
	// Final is the last stage: the image.
	Final Stage
	// Stages are all of them, in order (Final last).
	Stages []Stage
}

// Command is an exec-form RUN with the stage's environment at that point.
type Command struct {
	Args []string
	Env  []string // KEY=VALUE, ENV instructions before it, expanded
	// Stage is the name of the stage it runs in.
	Stage string
}

// Stage is a stage's effect on the image: its files and its configuration.
type Stage struct {
	Base   string
	Copies []Copy
	// Runs are the exec-form RUN commands (the final stage of a scratch
	// image has none: there is nothing to run them with).
	Runs   []Command
	Config v1.Config
}

// Copy is one COPY instruction.
type Copy struct {
	From    string   // the stage copied from
	Sources []string // paths in that stage
	Dest    string
	Chown   string // UID:GID, empty for root
}

// Parse reads a Containerfile with BuildKit's parser and expands ARG and
// ENV references, with args overriding ARG defaults (as --build-arg does).
// It refuses instructions it does not model (ADD, shell-form RUN in the
// final stage, ONBUILD, VOLUME…) so that a change to the file that the
// tests would not see fails them instead.
func Parse(r io.Reader, args map[string]string) (*Containerfile, error) {
	res, err := parser.Parse(r)
	if err != nil {
		return nil, err
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, err
	}
	if len(stages) < 2 {
		return nil, errors.New("want a build stage and a final stage")
	}
	global := map[string]string{}
	for _, a := range metaArgs {
		setArgs(global, a.Args, args)
	}
	cf := &Containerfile{}
	for i, st := range stages {
		s, err := parseStage(st, global, args)
		if err != nil {
			return nil, fmt.Errorf("stage %d (%s): %w", i, st.Name, err)
		}
		for _, run := range s.Runs {
			if len(run.Args) > 1 && run.Args[0] == "go" && run.Args[1] == "build" {
				cf.GoBuild = run
			}
		}
		cf.Stages = append(cf.Stages, *s)
		if i == len(stages)-1 {
			cf.Final = *s
		}
	}
	if cf.GoBuild.Args == nil {
		return nil, errors.New(`no RUN ["go", "build", …] in exec form`)
	}
	return cf, nil
}

func setArgs(vars map[string]string, kvs []instructions.KeyValuePairOptional, args map[string]string) {
	for _, kv := range kvs {
		v := ""
		if kv.Value != nil {
			v = *kv.Value
		}
		if o, ok := args[kv.Key]; ok {
			v = o
		}
		vars[kv.Key] = v
	}
}

func parseStage(st instructions.Stage, global, args map[string]string) (*Stage, error) {
	vars := map[string]string{}
	lex := shell.NewLex('\\')
	var expandErr error
	// expand is BuildKit's own word processing: quotes, $VAR, ${VAR}.
	expand := func(w string) string {
		var kv []string
		for k, v := range global {
			if _, ok := vars[k]; !ok {
				kv = append(kv, k+"="+v)
			}
		}
		for k, v := range vars {
			kv = append(kv, k+"="+v)
		}
		out, _, err := lex.ProcessWord(w, shell.EnvsFromSlice(kv))
		if err != nil && expandErr == nil {
			expandErr = fmt.Errorf("%q: %w", w, err)
		}
		return out
	}
	s := &Stage{Base: expand(st.BaseName)}
	var env []string
	for _, c := range st.Commands {
		switch c := c.(type) {
		case *instructions.ArgCommand:
			setArgs(vars, c.Args, args)
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				v := expand(kv.Value)
				vars[kv.Key] = v
				env = append(env, kv.Key+"="+v)
			}
		case *instructions.WorkdirCommand:
			s.Config.WorkingDir = expand(c.Path)
		case *instructions.RunCommand:
			if c.PrependShell {
				return nil, fmt.Errorf("shell-form RUN %q: use the exec form", strings.Join(c.CmdLine, " "))
			}
			// The exec form is not expanded (no shell): its arguments are
			// taken as written, as BuildKit does.
			s.Runs = append(s.Runs, Command{Args: c.CmdLine, Env: slices.Clone(env), Stage: st.Name})
		case *instructions.CopyCommand:
			if len(c.SourceContents) > 0 || c.Chmod != "" || c.Link || c.Parents || len(c.ExcludePatterns) > 0 {
				return nil, errors.New("COPY with heredoc, --chmod, --link, --parents or --exclude is not modelled")
			}
			cp := Copy{From: c.From, Dest: expand(c.DestPath), Chown: expand(c.Chown)}
			for _, p := range c.SourcePaths {
				cp.Sources = append(cp.Sources, expand(p))
			}
			s.Copies = append(s.Copies, cp)
		case *instructions.UserCommand:
			s.Config.User = expand(c.User)
		case *instructions.ExposeCommand:
			if s.Config.ExposedPorts == nil {
				s.Config.ExposedPorts = map[string]struct{}{}
			}
			for _, p := range c.Ports {
				s.Config.ExposedPorts[expand(p)] = struct{}{}
			}
		case *instructions.LabelCommand:
			if s.Config.Labels == nil {
				s.Config.Labels = map[string]string{}
			}
			for _, kv := range c.Labels {
				s.Config.Labels[expand(kv.Key)] = expand(kv.Value)
			}
		case *instructions.HealthCheckCommand:
			h := c.Health
			s.Config.Healthcheck = &v1.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
		case *instructions.EntrypointCommand:
			if c.PrependShell {
				return nil, errors.New("shell-form ENTRYPOINT needs a shell")
			}
			s.Config.Entrypoint = c.CmdLine
		case *instructions.CmdCommand:
			if c.PrependShell {
				return nil, errors.New("shell-form CMD needs a shell")
			}
			s.Config.Cmd = c.CmdLine
		default:
			return nil, fmt.Errorf("instruction %T is not modelled", c)
		}
	}
	s.Config.Env = env
	return s, expandErr
}
