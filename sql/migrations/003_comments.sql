-- Migration 3: COMMENT ON every table and column (issue 16 item 5), so analysts see what a column
-- means in their own tools (duckdb_tables() / duckdb_columns() "comment", DBeaver, `describe`).
-- Idempotent: COMMENT ON replaces a comment. A later migration that adds a column comments it too
-- (tests/test_analytics_snapshot.py checks that every column of every table has one).

comment on table sessions is 'One row per loaded session log (an interactive annotation session of one video): header fields, counts and where it was loaded from. Key: session_id.';
comment on column sessions.session_id is 'Session id from the log (primary key; the first loaded document with an id wins, see quarantine for conflicting duplicates).';
comment on column sessions.user_id is 'Annotator id from the log.';
comment on column sessions.created_at is 'When the session started (UTC; naive timestamps in logs are read as UTC).';
comment on column sessions.schema_version is 'Session log schema version: 1.0 (one object) or 2.0 (several objects).';
comment on column sessions.source is 'recorded (a person annotated) or simulated (the robot annotator of ivos simulate / synthetic logs).';
comment on column sessions.video_uri is 'The annotated video (path or URI as written in the log).';
comment on column sessions.video_width is 'Video frame width in pixels.';
comment on column sessions.video_height is 'Video frame height in pixels.';
comment on column sessions.video_n_frames is 'Number of frames of the video.';
comment on column sessions.video_fps is 'Video frame rate (frames per second); NULL when the log does not say.';
comment on column sessions.dataset is 'Dataset of the video (e.g. davis2016) when the log names one.';
comment on column sessions.sequence is 'Sequence name within the dataset when the log names one.';
comment on column sessions.n_frames is 'Annotated frames of the session: the first frame plus the refined frames.';
comment on column sessions.n_refined_frames is 'Frames refined after OSVOS propagation (stage refinement); > 0 means the session refines (paper 4.1: 15%).';
comment on column sessions.n_iterations is 'Interaction iterations over all annotated frames.';
comment on column sessions.n_inputs is 'Clicks and strokes over all iterations.';
comment on column sessions.meta is 'The log''s free-form meta object (JSON).';
comment on column sessions.content_sha256 is 'sha256 of the minified log document: an identical re-sent session counts as unchanged, a different one is quarantined.';
comment on column sessions.source_file is 'File the session was loaded from.';
comment on column sessions.source_position is 'Record number of the session in its file (1-based: JSONL line, JSON array element, Parquet row).';
comment on column sessions.loaded_at is 'When the session was loaded (UTC).';
comment on column sessions.n_objects is 'Objects declared by the log (schema 2.0); 1 for 1.0 logs.';

comment on table frames is 'One row per annotated frame of a session (first frame, then refined frames). Key: (session_id, frame_pos).';
comment on column frames.session_id is 'The session (sessions.session_id).';
comment on column frames.frame_pos is 'Position of the frame in the session''s frames list (0-based; 0 is the first frame).';
comment on column frames.frame_index is 'Video frame number (0-based).';
comment on column frames.stage is 'first_frame (annotated before propagation) or refinement (corrected after OSVOS propagation).';
comment on column frames.n_iterations is 'Interaction iterations spent on the frame (Fig. 8 / Fig. 9).';
comment on column frames.n_inputs is 'Clicks and strokes on the frame.';

comment on table iterations is 'One row per interaction iteration (the inputs given before one model update) of an annotated frame. Key: (session_id, frame_pos, iteration_index).';
comment on column iterations.session_id is 'The session (sessions.session_id).';
comment on column iterations.frame_pos is 'The frame (frames.frame_pos).';
comment on column iterations.iteration_index is 'Iteration number on the frame (0-based, consecutive).';
comment on column iterations.n_inputs is 'Clicks and strokes of the iteration.';
comment on column iterations.n_clicks is 'Clicks of the iteration.';
comment on column iterations.n_strokes is 'Strokes (scribbles) of the iteration.';
comment on column iterations.duration_s is 'Seconds the iteration took (NULL when the log does not say).';

comment on table inputs is 'One row per click or stroke, with geometry summaries of a stroke''s polyline and the Fig. 7 shape features. Key: (session_id, frame_pos, iteration_index, input_pos).';
comment on column inputs.session_id is 'The session (sessions.session_id).';
comment on column inputs.frame_pos is 'The frame (frames.frame_pos).';
comment on column inputs.iteration_index is 'The iteration (iterations.iteration_index).';
comment on column inputs.input_pos is 'Position of the input within its iteration (0-based).';
comment on column inputs.kind is 'click or stroke.';
comment on column inputs.positive is 'true: marks the object (foreground); false: marks background.';
comment on column inputs.t is 'Seconds since the iteration started when the input was given (NULL when the log does not say).';
comment on column inputs.x is 'Click x in pixels (NULL for strokes).';
comment on column inputs.y is 'Click y in pixels (NULL for strokes).';
comment on column inputs.n_points is 'Vertices of the stroke polyline (1 for a click).';
comment on column inputs.path_length is 'Length of the stroke centre line in pixels (0 for a click).';
comment on column inputs.bbox_width is 'Width of the bounding box of the stroke centre line in pixels (0 for a click).';
comment on column inputs.bbox_height is 'Height of the bounding box of the stroke centre line in pixels (0 for a click).';
comment on column inputs.bbox_area is 'Area of that bounding box in square pixels (0 for a click).';
comment on column inputs.radius is 'Brush radius of the stroke in pixels (NULL for clicks or when the log does not say).';
comment on column inputs.ink_area is 'Approximate painted area of the stroke in square pixels (path * 2r + pi r^2; 0 for a click).';
comment on column inputs.path_frac is 'path_length / frame diagonal (Fig. 7 shape feature, macro input_shape_frac).';
comment on column inputs.tortuosity is 'path_length / max(bbox diagonal, 1): high for back-and-forth scribbles (Fig. 7 shape feature).';
comment on column inputs.ink_frac is 'ink_area / frame area, 0 for clicks (Fig. 7 shape feature).';
comment on column inputs.object_id is 'The object the input segments (1 for 1.0 logs).';

comment on table job_results is 'One row per (session, model version): what a replay job produced (results.json written by jobs). A rerun with a later finished_at replaces the row. Key: (session_id, model_version).';
comment on column job_results.session_id is 'The replayed session (sessions.session_id; the session itself may not be loaded).';
comment on column job_results.model_version is 'Model version the job ran.';
comment on column job_results.job_id is 'Job / flow-run id (NULL when not recorded).';
comment on column job_results.status is 'ok or failed.';
comment on column job_results.started_at is 'When the job started (UTC).';
comment on column job_results.finished_at is 'When the job finished (UTC); the later record of a (session, model version) wins.';
comment on column job_results.runtime_s is 'Wall-clock seconds of the job.';
comment on column job_results.device is 'Device the job ran on (cpu, cuda, ...).';
comment on column job_results.n_frames is 'Frames of the video the job segmented.';
comment on column job_results.n_iterations is 'Interaction iterations the job replayed.';
comment on column job_results.mean_iteration_s is 'Mean seconds per replayed iteration (model response time).';
comment on column job_results.mask_area_mean is 'Mean predicted mask area over frames (fraction of the frame).';
comment on column job_results.consecutive_iou_mean is 'Mean IoU between the predicted masks of consecutive frames (temporal stability).';
comment on column job_results.final_iou is 'IoU of the final mask with the reference mask, when one exists.';
comment on column job_results.source_file is 'File the record was loaded from.';
comment on column job_results.loaded_at is 'When the record was loaded (UTC).';

comment on table job_object_results is 'One row per (job, object): the per-object results of a replay; replaced together with its job_results row. Key: (session_id, model_version, object_id).';
comment on column job_object_results.session_id is 'The replayed session (job_results.session_id).';
comment on column job_object_results.model_version is 'Model version the job ran (job_results.model_version).';
comment on column job_object_results.object_id is 'Object id (1..254; 1 for a record without objects).';
comment on column job_object_results.name is 'Object name from the log (NULL when unnamed).';
comment on column job_object_results.n_iterations is 'Interaction iterations with inputs for this object.';
comment on column job_object_results.n_annotated_frames is 'Frames with inputs for this object.';
comment on column job_object_results.mask_area_mean is 'Mean predicted mask area of the object over frames (fraction of the frame).';
comment on column job_object_results.consecutive_iou_mean is 'Mean IoU between the object''s masks on consecutive frames.';
comment on column job_object_results.mean_confidence is 'Mean model confidence of the object''s masks.';
comment on column job_object_results.final_iou is 'IoU of the object''s final mask with its reference mask, when one exists.';
comment on column job_object_results.source_file is 'File the record was loaded from.';
comment on column job_object_results.loaded_at is 'When the record was loaded (UTC).';

comment on table eval_runs is 'One row per evaluation run (summary.json of ivos eval). Key: run_id.';
comment on column eval_runs.run_id is 'Evaluation run id.';
comment on column eval_runs.dataset is 'Evaluated dataset (e.g. davis2016, GrabCut, COCO_MVal).';
comment on column eval_runs.method is 'Evaluated method (e.g. osvos, grabcut).';
comment on column eval_runs.created_at is 'When the run was made (UTC; NULL when summary.json does not say, then loaded_at orders runs).';
comment on column eval_runs.seed is 'Random seed of the run.';
comment on column eval_runs.summary_json is 'The run''s summary.json as text (settings and aggregate metrics).';
comment on column eval_runs.source_file is 'summary.json the run was loaded from.';
comment on column eval_runs.loaded_at is 'When the run was loaded (UTC).';

comment on table eval_results is 'Per-item (sequence or image) metrics of an evaluation run, long form: one row per (run, item, metric).';
comment on column eval_results.run_id is 'The run (eval_runs.run_id).';
comment on column eval_results.dataset is 'Dataset of the run.';
comment on column eval_results.sequence is 'Evaluated item: video sequence or image name.';
comment on column eval_results.method is 'Method of the run.';
comment on column eval_results.metric is 'Metric name (e.g. NoC@85, NoC@90, mIoU@k, J_mean, F_mean).';
comment on column eval_results.value is 'Metric value (NULL when not defined for the item).';

comment on table sequence_stats is 'Per-sequence statistics independent of any method (Fig. 10 x axis, difficulty estimates). Key: (dataset, sequence, kind).';
comment on column sequence_stats.dataset is 'Dataset of the sequence (as ivos eval writes it).';
comment on column sequence_stats.sequence is 'Sequence name.';
comment on column sequence_stats.kind is 'ground_truth (annotation masks), predicted (model masks) or flow (optical-flow difficulty estimate).';
comment on column sequence_stats.n_frames is 'Frames of the sequence.';
comment on column sequence_stats.consecutive_iou_mean is 'Mean IoU between the masks of consecutive frames (low: fast or deforming objects).';
comment on column sequence_stats.flow_magnitude_mean is 'Mean optical-flow magnitude in pixels per frame (kind flow).';
comment on column sequence_stats.difficulty is 'Difficulty score of the sequence (higher: harder; kind flow).';
comment on column sequence_stats.computed_at is 'When the statistics were computed (UTC).';

comment on table quarantine is 'Records that failed validation or conflict with a loaded one, with the reason; every good record of the same file loads. Key: (source_sha256, position, record_kind).';
comment on column quarantine.source_file is 'File the record came from.';
comment on column quarantine.source_sha256 is 'sha256 of that file.';
comment on column quarantine.position is 'Record number in the file (1-based: JSONL line, JSON array element, Parquet row; 1 for a one-document file).';
comment on column quarantine.record_kind is 'session, job_result, eval_result or file.';
comment on column quarantine.session_id is 'Session id of the record when it could be read.';
comment on column quarantine.reason is 'Why the record was refused (validation error or conflicting duplicate).';
comment on column quarantine.raw_snippet is 'The first characters of the raw record.';
comment on column quarantine.loaded_at is 'When the record was quarantined (UTC).';

comment on table schema_migrations is 'Schema migrations applied to this database (analytics/migrations.py). Key: version.';
comment on column schema_migrations.version is 'Migration version (sql/migrations/NNN_*.sql).';
comment on column schema_migrations.description is 'What the migration changed.';
comment on column schema_migrations.applied_at is 'When it was applied (UTC).';

comment on table loaded_files is 'Files already ingested, by content: a file whose sha256 is here is skipped (incremental loads). Key: sha256.';
comment on column loaded_files.sha256 is 'sha256 of the file content (for an evaluation run: of its summary and item files).';
comment on column loaded_files.path is 'Path of the file when it was loaded.';
comment on column loaded_files.record_kind is 'session, job_result or eval_result.';
comment on column loaded_files.n_records is 'Records read from the file.';
comment on column loaded_files.n_loaded is 'Records inserted (or replacing an older job result).';
comment on column loaded_files.n_unchanged is 'Records already present with the same content.';
comment on column loaded_files.n_quarantined is 'Records sent to quarantine.';
comment on column loaded_files.loaded_at is 'When the file was loaded (UTC).';
