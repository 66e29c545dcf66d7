-- the file is complete (in the transaction that adds it to loaded_files)
delete from load_progress where sha256 = $sha256
