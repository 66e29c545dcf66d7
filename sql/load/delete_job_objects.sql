-- the per-object rows of the jobs this load inserted or replaced (job_results rows stamped with this
-- load's source file and time) go; load/insert_job_objects.sql puts the file's rows in their place
delete from job_object_results as o
using job_results as r
where r.session_id = o.session_id
    and r.model_version = o.model_version
    and r.source_file = $source_file
    and r.loaded_at = $loaded_at
