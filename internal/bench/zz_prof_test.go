package bench_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/bgtask/bgtask/internal/bench"
	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/boltstore"
)

func TestZZProf(t *testing.T) {
	dir := t.TempDir()
	var st *boltstore.Store
	res, err := bench.Run(context.Background(), bench.Config{
		N: 20000, Scenarios: []string{os.Getenv("SC")}, Timeout: time.Minute, Out: os.Stdout,
		OpenStore: func(context.Context) (store.Store, func(), error) {
			d, _ := os.MkdirTemp(dir, "s")
			s, err := boltstore.New(d, nil)
			st = s
			return s, func() { s.Close() }, err
		},
	})
	t.Log(res, err, st.Stats())
}
