-- one loaded file and its counts (content hash = key: the same bytes are not loaded twice)
insert or ignore into loaded_files
values ($sha256, $source_file, $record_kind, $n_records, $n_loaded, $n_unchanged, $n_quarantined, $loaded_at)
