-- Mean of every metric of the latest evaluation run per (dataset, method): NoC, mIoU@k, J, F.
with runs as (
    select run_id, dataset, method, coalesce(created_at, loaded_at) as run_time from eval_runs
),

latest_runs as (
    select dataset, method, arg_max(run_id, run_time) as run_id from runs group by dataset, method
),

final as (
    select
        r.dataset,
        r.method,
        e.metric,
        avg(e.value) as mean_value,
        count(e.value) as n_items,
        r.run_id
    from eval_results as e
    inner join latest_runs as r using (run_id)
    group by r.dataset, r.method, e.metric, r.run_id
)

select * from final order by dataset, method, metric
