-- Migration 4: load_progress (issue 16 item 4): a session file commits batch by batch, and a load
-- killed mid-file resumes where its last committed batch ended. schema.sql creates the table (on
-- an old database too: create table if not exists); this step comments it. Idempotent.
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
comment on table load_progress is 'Session files being loaded: each batch of records commits on its own; a load stopped mid-file resumes after position. The row goes when the file enters loaded_files. Key: sha256.';
comment on column load_progress.sha256 is 'sha256 of the file content (as in loaded_files).';
comment on column load_progress.path is 'Path of the file when its last batch committed.';
comment on column load_progress.position is 'Last record position (1-based, as quarantine.position) of the committed batches.';
comment on column load_progress.n_records is 'Records of the file read by the committed batches.';
comment on column load_progress.n_loaded is 'Records inserted by the committed batches.';
comment on column load_progress.n_unchanged is 'Records of the committed batches already present with the same content.';
comment on column load_progress.n_quarantined is 'Records of the committed batches sent to quarantine.';
comment on column load_progress.updated_at is 'When the last batch committed (UTC).';
