-- every per-object result belongs to a loaded job, with an object id 1..254
select o.session_id, o.model_version, o.object_id
from job_object_results as o
anti join job_results as r using (session_id, model_version)

union all

select session_id, model_version, object_id
from job_object_results
where object_id not between 1 and 254
