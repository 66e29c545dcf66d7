-- whether a file's content (sha256) was loaded before: then it is skipped without being read
select count(*) > 0 from loaded_files where sha256 = $sha256
