-- Job results by model version: volume, success, speed and mask quality.
with jobs as (
    select * from job_results
),

final as (
    select
        model_version,
        count(*) as n_jobs,
        count(distinct session_id) as n_sessions,
        avg((status = 'ok')::integer) as success_rate,
        quantile_cont(runtime_s, 0.5) as median_runtime_s,
        avg(mean_iteration_s) as mean_iteration_s,
        avg(consecutive_iou_mean) as mean_consecutive_iou,
        avg(final_iou) as mean_final_iou,
        min(finished_at) as first_finished_at,
        max(finished_at) as last_finished_at
    from jobs
    group by model_version
)

select * from final order by model_version
