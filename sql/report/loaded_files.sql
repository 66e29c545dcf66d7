-- the report's load summary: files and records per record kind
select
    record_kind,
    count(*) as n_files,
    sum(n_loaded)::bigint as loaded,
    sum(n_unchanged)::bigint as unchanged,
    sum(n_quarantined)::bigint as quarantined
from loaded_files
group by record_kind
order by record_kind
