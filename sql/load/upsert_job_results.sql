-- job results staged in _jobs (deduped per key); a later finished_at replaces the stored row
insert into job_results
select
    session_id, model_version, job_id, status, started_at, finished_at, runtime_s, device,
    n_frames, n_iterations, mean_iteration_s, mask_area_mean, consecutive_iou_mean, final_iou,
    source_file, loaded_at
from _jobs
on conflict (session_id, model_version) do update set
    job_id = excluded.job_id,
    status = excluded.status,
    started_at = excluded.started_at,
    finished_at = excluded.finished_at,
    runtime_s = excluded.runtime_s,
    device = excluded.device,
    n_frames = excluded.n_frames,
    n_iterations = excluded.n_iterations,
    mean_iteration_s = excluded.mean_iteration_s,
    mask_area_mean = excluded.mask_area_mean,
    consecutive_iou_mean = excluded.consecutive_iou_mean,
    final_iou = excluded.final_iou,
    source_file = excluded.source_file,
    loaded_at = excluded.loaded_at
where coalesce(excluded.finished_at, '-infinity'::timestamptz)
    > coalesce(job_results.finished_at, '-infinity'::timestamptz)
