package redistest

import (
	"context"
	"testing"
)

func TestNewGivesPrivateEmptyDatabases(t *testing.T) {
	a, b := New(t), New(t)
	if !a.Embedded && a.DB == b.DB {
		t.Fatalf("two tests share db %d", a.DB)
	}
	ctx := context.Background()
	if n, err := a.Client.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Fatalf("got dbsize %d (err %v), want an empty database", n, err)
	}
	if err := a.Client.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, _ := b.Client.Exists(ctx, "k").Result(); n != 0 {
		t.Fatalf("key written to one test database is visible in another")
	}
}
