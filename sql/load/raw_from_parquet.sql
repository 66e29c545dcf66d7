-- a Parquet file's string document column, numbered from 1 (the record position)
create or replace temp table _raw_all as
select
    (file_row_number + 1)::bigint as position,
    document::varchar as document
from read_parquet($path, file_row_number = true)
