package taskmode

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"time"
)

// tracerPollInterval is how often --wait-for-debugger looks for a tracer.
const tracerPollInterval = 100 * time.Millisecond

// waitForDebugger prints the PID and blocks until SIGCONT arrives or a
// tracer (gdb, dlv, strace) attaches. A stop signal (SIGHUP, SIGINT,
// SIGTERM) or the end of ctx stops the run instead: stop is then true and
// code its exit code.
func (r *runner) waitForDebugger(ctx context.Context) (code int, stop bool) {
	cont := make(chan os.Signal, 1)
	if len(continueSignals) > 0 {
		signal.Notify(cont, continueSignals...)
	}
	defer signal.Stop(cont)
	r.diag("waiting for a debugger: pid %d (attach one, or send SIGCONT)", os.Getpid())
	tick := time.NewTicker(tracerPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-cont:
			return 0, false
		case sig := <-r.sigs:
			return interrupted(sig), true
		case <-ctx.Done():
			return interrupted(nil), true
		case <-tick.C:
			if traced() {
				return 0, false
			}
		}
	}
}

// traced reports whether a tracer is attached (TracerPid in
// /proc/self/status is not 0).
func traced() bool {
	b, err := os.ReadFile("/proc/self/status")
	return err == nil && tracerAttached(b)
}

// tracerAttached reads the TracerPid line of a /proc/PID/status file.
func tracerAttached(status []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("TracerPid:")); ok {
			v = bytes.TrimSpace(v)
			return len(v) > 0 && !bytes.Equal(v, []byte("0"))
		}
	}
	return false
}

// serveDebug serves net/http/pprof on addr, a loopback address, from a
// private ServeMux, for the duration of the run. It prints the URL.
func (r *runner) serveDebug(addr string) (stop func(), err error) {
	if err := checkLoopback(addr); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	r.diag("pprof: http://%s/debug/pprof/", ln.Addr())
	return func() {
		srv.Close()
		<-done
	}, nil
}

// checkLoopback refuses addresses that would expose pprof beyond this
// host: the host part must be "localhost" or a loopback IP.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q is not a loopback address (use 127.0.0.1:PORT or localhost:PORT)", addr)
}
