-- analytics store schema (DuckDB). Created idempotently by analytics.store.AnalyticsStore.
-- Reloads are no-ops: every top-level table has a primary key (INSERT OR IGNORE / ON CONFLICT).
-- Session logs are flattened into sessions > frames > iterations > inputs; positions are 0-based.
-- Databases made before a change of this file are brought up to it by analytics.migrations
-- (sql/migrations/*.sql, recorded in schema_migrations); columns added later sit at the end.
-- frames / iterations / inputs are keyed by (session_id, positions) without a PRIMARY KEY index
-- (at 10M inputs the index doubled the load time): the loader writes a session's child rows only
-- in the transaction that inserts its new sessions row, so they cannot repeat;
-- sql/tests/child_keys_unique.sql checks it.

create table if not exists sessions (
    session_id         varchar primary key,
    user_id            varchar not null,
    created_at         timestamptz not null,
    schema_version     varchar not null,
    source             varchar not null,          -- 'recorded' | 'simulated'
    video_uri          varchar not null,
    video_width        integer not null,
    video_height       integer not null,
    video_n_frames     integer not null,
    video_fps          double,
    dataset            varchar,
    sequence           varchar,
    n_frames           integer not null,          -- annotated frames (first + refinement)
    n_refined_frames   integer not null,
    n_iterations       integer not null,
    n_inputs           integer not null,
    meta               json,                      -- the document's free-form meta object
    content_sha256     varchar not null,          -- sha256 of the minified document: duplicate policy
    source_file        varchar not null,
    source_position    bigint not null,
    loaded_at          timestamptz not null,
    n_objects          integer not null default 1  -- declared objects (schema 2.0; 1.0 logs: 1)
);

create table if not exists frames (
    session_id     varchar not null,
    frame_pos      integer not null,              -- position in the session's frames list
    frame_index    integer not null,              -- video frame number
    stage          varchar not null,              -- 'first_frame' | 'refinement'
    n_iterations   integer not null,
    n_inputs       integer not null              -- key (session_id, frame_pos)
);

create table if not exists iterations (
    session_id       varchar not null,
    frame_pos        integer not null,
    iteration_index  integer not null,
    n_inputs         integer not null,
    n_clicks         integer not null,
    n_strokes        integer not null,
    duration_s       double                       -- key (session_id, frame_pos, iteration_index)
);

-- One row per click or stroke. Clicks: x, y. Strokes: geometry summaries of the polyline
-- (vertices, path length, bounding box of the centre line, ink area ~ path*2r + pi r^2).
create table if not exists inputs (
    session_id       varchar not null,
    frame_pos        integer not null,
    iteration_index  integer not null,
    input_pos        integer not null,
    kind             varchar not null,            -- 'click' | 'stroke'
    positive         boolean not null,
    t                double,
    x                double,
    y                double,
    n_points         integer not null,
    path_length      double not null,
    bbox_width       double not null,
    bbox_height      double not null,
    bbox_area        double not null,
    radius           double,
    ink_area         double not null,
    -- the shape features of Fig. 7 relative to the frame (sql/macros/input_shape_frac.sql), computed
    -- at load so the pattern queries need no join: path / frame diagonal, path / max(bbox diagonal, 1)
    -- and ink area / frame area (0 for clicks)
    path_frac        double not null,
    tortuosity       double not null,
    ink_frac         double not null,             -- key (session_id, frame_pos, iteration_index, input_pos)
    object_id        integer not null default 1   -- the object the input segments (1.0 logs: 1)
);

-- One row per (session, model version): what a replay job produced (written by jobs, loaded here).
create table if not exists job_results (
    session_id            varchar not null,
    model_version         varchar not null,
    job_id                varchar,
    status                varchar not null,       -- 'ok' | 'failed'
    started_at            timestamptz,
    finished_at           timestamptz,
    runtime_s             double,
    device                varchar,
    n_frames              integer,
    n_iterations          integer,
    mean_iteration_s      double,
    mask_area_mean        double,
    consecutive_iou_mean  double,
    final_iou             double,
    source_file           varchar not null,
    loaded_at             timestamptz not null,
    primary key (session_id, model_version)
);

-- One row per (job, object): the per-object results of a replay (results.json "objects"; a record
-- without them is object 1 with the job's values). Replaced together with its job_results row.
create table if not exists job_object_results (
    session_id            varchar not null,
    model_version         varchar not null,
    object_id             integer not null,
    name                  varchar,
    n_iterations          integer,
    n_annotated_frames    integer,
    mask_area_mean        double,
    consecutive_iou_mean  double,
    mean_confidence       double,
    final_iou             double,
    source_file           varchar not null,
    loaded_at             timestamptz not null,
    primary key (session_id, model_version, object_id)
);

-- One row per evaluation run (summary.json of `ivos eval`).
create table if not exists eval_runs (
    run_id        varchar primary key,
    dataset       varchar not null,
    method        varchar not null,
    created_at    timestamptz,
    seed          bigint,
    summary_json  varchar not null,
    source_file   varchar not null,
    loaded_at     timestamptz not null
);

-- Per-item (sequence or image) metrics of a run, long form.
create table if not exists eval_results (
    run_id    varchar not null,
    dataset   varchar not null,
    sequence  varchar not null,
    method    varchar not null,
    metric    varchar not null,
    value     double,
    primary key (run_id, sequence, metric)
);

-- Per-sequence statistics independent of any method (Fig. 10 x axis; difficulty hooks).
-- kind: 'ground_truth' (consecutive IoU of annotation masks), 'predicted', 'flow' (issue 6 item 5).
create table if not exists sequence_stats (
    dataset               varchar not null,
    sequence              varchar not null,
    kind                  varchar not null,
    n_frames              integer,
    consecutive_iou_mean  double,
    flow_magnitude_mean   double,
    difficulty            double,
    computed_at           timestamptz not null,
    primary key (dataset, sequence, kind)
);

-- Records that failed validation or conflict with a loaded one. position: 1-based record number
-- (line of a JSONL file, element of a JSON array, row of a Parquet file; 1 for a one-document file).
create table if not exists quarantine (
    source_file    varchar not null,
    source_sha256  varchar not null,
    position       bigint not null,
    record_kind    varchar not null,               -- 'session' | 'job_result' | 'eval_result' | 'file'
    session_id     varchar,
    reason         varchar not null,
    raw_snippet    varchar,
    loaded_at      timestamptz not null,
    primary key (source_sha256, position, record_kind)
);

-- Migrations applied to this database (analytics.migrations); a new database records them all.
create table if not exists schema_migrations (
    version      integer primary key,
    description  varchar not null,
    applied_at   timestamptz not null
);

-- Files already ingested, by content: a file whose sha256 is here is skipped (incremental loads).
create table if not exists loaded_files (
    sha256          varchar primary key,
    path            varchar not null,
    record_kind     varchar not null,
    n_records       bigint not null,
    n_loaded        bigint not null,
    n_unchanged     bigint not null,
    n_quarantined   bigint not null,
    loaded_at       timestamptz not null
);

-- A session file being loaded: every batch of records commits on its own, and records up to
-- `position` are in. A load killed mid-file resumes after `position`; the row goes in the
-- transaction that adds the file to loaded_files.
create table if not exists load_progress (
    sha256          varchar primary key,
    path            varchar not null,
    position        bigint not null,
    n_records       bigint not null,
    n_loaded        bigint not null,
    n_unchanged     bigint not null,
    n_quarantined   bigint not null,
    updated_at      timestamptz not null
);
