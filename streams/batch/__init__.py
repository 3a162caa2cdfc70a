"""Replay of files: one process (`replay`), or sharded by key over processes (`parallel`);
`gctune` sets the garbage collector both run with."""
