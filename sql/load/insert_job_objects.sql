-- per-object results (_job_objects) of the jobs this load inserted or replaced (see delete_job_objects.sql)
insert into job_object_results
select
    o.session_id, o.model_version, o.object_id, o.name, o.n_iterations, o.n_annotated_frames,
    o.mask_area_mean, o.consecutive_iou_mean, o.mean_confidence, o.final_iou,
    $source_file as source_file, $loaded_at::timestamptz as loaded_at
from _job_objects as o
semi join job_results as r
    on r.session_id = o.session_id
    and r.model_version = o.model_version
    and r.source_file = $source_file
    and r.loaded_at = $loaded_at
