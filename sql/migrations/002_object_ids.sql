-- Migration 2: object ids (session schema 2.0, issue 17). Existing rows are object 1.
-- Idempotent (IF NOT EXISTS / OR IGNORE): a new database, whose schema.sql already has these
-- columns, runs it as a no-op. job_object_results itself is created by schema.sql.
alter table sessions add column if not exists n_objects integer default 1;
alter table sessions alter column n_objects set not null;
alter table inputs add column if not exists object_id integer default 1;
alter table inputs alter column object_id set not null;
-- a job loaded before objects existed is one object (id 1) with the job's own values
insert or ignore into job_object_results
select
    session_id, model_version, 1 as object_id, null as name, n_iterations, null as n_annotated_frames,
    mask_area_mean, consecutive_iou_mean, null as mean_confidence, final_iou, source_file, loaded_at
from job_results;
