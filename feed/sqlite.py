"""How the project's SQLite files keep their write-ahead log: the server's database and the
exchange's mirror alike. Pure constants, so the mirror needs no database layer."""

# Pages (of 4 kB) the log grows to before a commit copies it into the database. At SQLite's
# default of 1,000, a batch of 1,000 indicators (a POST, a polled page) copied the log after
# nearly every commit, pages that the next batch changes again: sixteen times as many pages
# halve the server's commit and speed a mirror's sync by a sixth.
_CHECKPOINT_PAGES = 16384

WRITE_AHEAD_LOG = (
    "journal_mode=WAL",
    f"wal_autocheckpoint={_CHECKPOINT_PAGES}",
    f"journal_size_limit={_CHECKPOINT_PAGES * 4096}",  # trimmed back to this after a checkpoint
)
