package idlebench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// childEnv, when set in the environment, turns a binary that links this
// package into a load generator that reads genCmds on stdin and writes
// genResults on stdout (see init). Run sets it for the child it starts
// from os.Executable(), so the generator runs in its own process with its
// own Go runtime, like a real client, yet needs no second binary.
const childEnv = "BGTASK_IDLEBENCH_LOADGEN"

func init() {
	if os.Getenv(childEnv) == "1" {
		os.Exit(childMain(os.Stdin, os.Stdout))
	}
}

// childMain serves generator jobs until stdin closes.
func childMain(in io.Reader, out io.Writer) int {
	g := newLoadGen()
	defer g.close()
	dec, enc := json.NewDecoder(bufio.NewReader(in)), json.NewEncoder(out)
	for {
		var cmd genCmd
		if err := dec.Decode(&cmd); err != nil {
			if errors.Is(err, io.EOF) {
				return 0
			}
			fmt.Fprintln(os.Stderr, "idlebench load generator:", err)
			return 1
		}
		res, err := g.do(context.Background(), cmd)
		if err != nil {
			res.Err = err.Error()
		}
		if err := enc.Encode(res); err != nil {
			return 1
		}
	}
}

// childGen is a generator in a child process.
type childGen struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	enc   *json.Encoder
	dec   *json.Decoder
	done  chan error
}

// startChild starts the executable again as a load generator.
func startChild(ctx context.Context) (*childGen, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("idlebench: load generator: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("idlebench: load generator: %w", err)
	}
	c := &childGen{cmd: cmd, stdin: stdin, enc: json.NewEncoder(stdin), dec: json.NewDecoder(stdout), done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait() }()
	hctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := c.do(hctx, genCmd{Op: "hello"}); err != nil {
		c.close()
		return nil, fmt.Errorf("idlebench: load generator child did not answer (is package idlebench linked into %s?): %w", exe, err)
	}
	return c, nil
}

func (c *childGen) do(ctx context.Context, cmd genCmd) (genResult, error) {
	if err := c.enc.Encode(cmd); err != nil {
		return genResult{}, err
	}
	type reply struct {
		res genResult
		err error
	}
	ch := make(chan reply, 1)
	go func() {
		var r reply
		r.err = c.dec.Decode(&r.res)
		ch <- r
	}()
	select {
	case r := <-ch:
		if r.err == nil && r.res.Err != "" {
			r.err = errors.New(r.res.Err)
		}
		return r.res, r.err
	case <-ctx.Done():
		c.cmd.Process.Kill()
		<-ch
		return genResult{}, ctx.Err()
	}
}

func (c *childGen) close() error {
	c.stdin.Close()
	select {
	case err := <-c.done:
		return err
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		return <-c.done
	}
}
