-- the report's provenance table: sessions and inputs per source (real, simulated, synthetic...)
select
    source,
    count(*) as n_sessions,
    sum(n_inputs)::bigint as n_inputs
from sessions
group by source
order by source
