-- the run's per-item metrics (_items, long form), one row per (run, item, metric)
insert or ignore into eval_results
select run_id, dataset, sequence, method, metric, value
from _items
qualify row_number() over (partition by run_id, sequence, metric) = 1
