-- the report's 20 most common quarantine reasons (the text before the first colon)
select
    record_kind,
    split_part(reason, ':', 1) as reason,
    count(*) as n
from quarantine
group by all
order by n desc
limit 20
