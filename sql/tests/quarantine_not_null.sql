-- every quarantined record says where it came from and why
select source_file, position, record_kind, reason from quarantine
where reason is null or reason = '' or source_file = '' or position < 1
   or record_kind not in ('session', 'job_result', 'eval_result', 'file')
