package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/agorafed/agora/cmd/internal/agora"
	"github.com/agorafed/agora/storage/sqlite"
)

// cmdBackup writes a consistent copy of the database, private keys
// included, to a new file (mode 0600) while the server may be running.
func cmdBackup(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	configPath := configFlag(fs, env)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{Msg: "backup: want the file to write (agora backup FILE)"}
	}
	cfg, src, err := loadCLIConfig(*configPath, env)
	if err != nil {
		return err
	}
	if cfg.Database != "" {
		return fmt.Errorf("backup: the database is PostgreSQL (%s): back it up with pg_dump (README: Running on PostgreSQL)", agora.DataWhere(cfg))
	}
	path := dbPath(cfg)
	// Opening creates an empty database: a backup must not do that.
	if err := requireDB(cfg, src, "backup"); err != nil {
		return err
	}
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Backup(ctx, pos[0]); err != nil {
		return err
	}
	st, err := os.Stat(pos[0])
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "backup of %s written to %s (%d bytes, mode %v)\n", path, pos[0], st.Size(), st.Mode().Perm())
	return nil
}
