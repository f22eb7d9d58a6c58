package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/agorafed/agora/storage/migrate"
)

// cmdDB runs `agora db migrate`.
func cmdDB(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) == 0 || args[0] != "migrate" {
		return usageError{Msg: "db: want 'agora db migrate --from sqlite:PATH --to postgres://...'"}
	}
	fs := flag.NewFlagSet("db migrate", flag.ContinueOnError)
	from := fs.String("from", "", "the SQLite database to copy: sqlite:PATH (PATH: data_dir/agora.db)")
	to := fs.String("to", "", "the PostgreSQL database to copy it into, new and empty: postgres://user@host/db (default: the config's database)")
	configPath := configFlag(fs, env)
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if *to == "" {
		cfg, _, err := loadCLIConfig(*configPath, env)
		if err != nil {
			return err
		}
		*to = cfg.Database
	}
	if len(pos) > 0 {
		return usageError{Msg: fmt.Sprintf("db migrate: unexpected argument %q", pos[0])}
	}
	path, ok := strings.CutPrefix(*from, "sqlite:")
	if !ok || path == "" {
		return usageError{Msg: "db migrate: want --from sqlite:PATH, the agora.db of a data_dir"}
	}
	if !strings.HasPrefix(*to, "postgres://") && !strings.HasPrefix(*to, "postgresql://") {
		return usageError{Msg: "db migrate: want --to postgres://user@host/db (or database in the config), a new, empty database"}
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("db migrate: the source %s: %w", path, err)
	}
	// The source must not change while it is copied: no agora serve on
	// its data_dir (the lock serve holds).
	unlock, err := lockDataDir(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("db migrate: stop agora serve first: %w", err)
	}
	defer unlock()
	counts, err := migrate.SQLiteToPostgres(ctx, path, *to)
	if err != nil {
		if errors.Is(err, migrate.ErrNotEmpty) {
			return fmt.Errorf("db migrate: %s: %w", migrate.Redacted(*to), err)
		}
		return fmt.Errorf("db migrate: %w", err)
	}
	var rows int64
	for _, c := range counts {
		if c.Source > 0 {
			fmt.Fprintf(stdout, "%-24s %8d rows\n", c.Table, c.Source)
		}
		rows += c.Source
	}
	fmt.Fprintf(stdout, "copied %s into %s: %d rows, the same count in every table. Set database = %q in the config (or AGORA_DATABASE) and start agora serve.\n",
		path, migrate.Redacted(*to), rows, migrate.Redacted(*to))
	return nil
}
