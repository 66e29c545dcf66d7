-- Fig. 10: per sequence, mean IoU between consecutive masks (sequence_stats) against the OSVOS
-- score of the latest evaluation run per dataset (eval_results), with Pearson r over sequences:
-- pearson_r for consecutive_iou_mean, pearson_r_difficulty for the difficulty score (stats_kind
-- 'flow': the Farnebäck estimate of analytics.difficulty.flow_sequence_stats).
-- param method = "osvos"
-- param metric = "J_mean"
-- param stats_kind = "ground_truth"
with runs as (
    select run_id, dataset, coalesce(created_at, loaded_at) as run_time from eval_runs
    where method = $method
),

latest_runs as (
    select dataset, arg_max(run_id, run_time) as run_id from runs group by dataset
),

scores as (
    select r.dataset, e.sequence, e.value as score
    from eval_results as e
    inner join latest_runs as r using (run_id, dataset)
    where e.metric = $metric and e.value is not null
),

stats as (
    select dataset, sequence, consecutive_iou_mean, difficulty from sequence_stats
    where kind = $stats_kind and (consecutive_iou_mean is not null or difficulty is not null)
),

joined as (
    select st.dataset, st.sequence, st.consecutive_iou_mean, st.difficulty, sc.score
    from stats as st
    inner join scores as sc using (dataset, sequence)
),

final as (
    select
        dataset,
        sequence,
        consecutive_iou_mean,
        difficulty,
        score,
        corr(consecutive_iou_mean, score) over () as pearson_r,
        corr(difficulty, score) over () as pearson_r_difficulty,
        count(*) over () as n_sequences
    from joined
)

select * from final order by consecutive_iou_mean, sequence
