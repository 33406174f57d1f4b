package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// MinTokenLength is the least length of the token of a server bound to a
// non-loopback address: 16 characters (`openssl rand -hex 16` makes 32).
// A token must be printable ASCII without spaces in any case: it travels
// in an HTTP header, and one with spaces could never match.
const MinTokenLength = 16

// resolveToken picks the server's token: --token, else the contents of
// --token-file (surrounding white space removed), else $BGTASK_TOKEN.
// --token is visible to every user in ps; the file and the variable are
// not. It returns the token and where it came from, for messages.
func (inv *invocation) resolveToken(f *serveFlags, tokenSet bool) (string, string, error) {
	switch {
	case tokenSet && f.tokenFile != "":
		return "", "", errors.New("--token and --token-file: give one")
	case tokenSet:
		return f.token, "--token", nil
	case f.tokenFile != "":
		data, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return "", "", fmt.Errorf("--token-file: %w", err)
		}
		tok := strings.TrimSpace(string(data))
		if tok == "" {
			return "", "", fmt.Errorf("--token-file %s is empty", f.tokenFile)
		}
		return tok, "--token-file", nil
	}
	return inv.getenv("BGTASK_TOKEN"), "BGTASK_TOKEN", nil
}

// checkToken refuses a token that cannot protect anything: one with
// white space or control characters (given, but it could never match),
// and, on a non-loopback address, none or one shorter than
// MinTokenLength. An empty token on a loopback address means no token.
func checkToken(tok, from string, loopback bool, given bool) error {
	for _, c := range []byte(tok) {
		if c <= ' ' || c >= 0x7f {
			return fmt.Errorf("%s: the token has white space, control or non-ASCII characters; want printable ASCII without spaces, at least %d characters", from, MinTokenLength)
		}
	}
	switch {
	case tok == "" && given:
		return fmt.Errorf("%s is empty: give a token of at least %d characters, or none on a loopback address", from, MinTokenLength)
	case loopback:
		return nil
	case tok == "":
		return errors.New("refusing to serve without a token (set --token-file, BGTASK_TOKEN or --token)")
	case len(tok) < MinTokenLength:
		return fmt.Errorf("%s: a token of %d characters is too short for a non-loopback address: want at least %d (e.g. openssl rand -hex 16)", from, len(tok), MinTokenLength)
	}
	return nil
}

// warnTokenFile warns when the token file can be read by other users.
func warnTokenFile(logger *slog.Logger, path string) {
	if path == "" {
		return
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		logger.Warn("the token file is readable by other users: chmod 600 it", "file", path, "mode", fi.Mode().Perm().String())
	}
}
