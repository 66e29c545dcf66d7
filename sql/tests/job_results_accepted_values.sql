-- job status is accepted; fractions lie in [0, 1]
select session_id, model_version, status from job_results
where status not in ('ok', 'failed')
   or mask_area_mean not between 0 and 1
   or consecutive_iou_mean not between 0 and 1
   or final_iou not between 0 and 1
