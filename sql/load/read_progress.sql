-- where a session file's committed batches ended (no row: the file starts from its first record)
select position, n_records, n_loaded, n_unchanged, n_quarantined
from load_progress
where sha256 = $sha256
