-- a batch of a session file committed through $position (in the batch's own transaction)
insert or replace into load_progress
values ($sha256, $path, $position, $n_records, $n_loaded, $n_unchanged, $n_quarantined, $updated_at)
