-- one evaluation run (summary.json); a run id loaded before stays as it was
insert or ignore into eval_runs
values ($run_id, $dataset, $method, $created_at, $seed, $summary_json, $source_file, $loaded_at)
