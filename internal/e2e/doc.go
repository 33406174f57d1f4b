// Package e2e holds the end-to-end tests of the bgtask binary as a server:
// they build it once (testtasks tag), run `bgtask serve` as a real process
// on a real data directory, talk to it with the client commands, kill it
// with SIGKILL and SIGTERM, and start it again.
package e2e
