-- per-sequence statistics (_stats); a later computation of the same (dataset, sequence, kind) wins
insert or replace into sequence_stats
select
    dataset,
    sequence,
    kind,
    n_frames::integer,
    consecutive_iou_mean::double,
    flow_magnitude_mean::double,
    difficulty::double,
    computed_at
from _stats
qualify row_number() over (partition by dataset, sequence, kind) = 1
