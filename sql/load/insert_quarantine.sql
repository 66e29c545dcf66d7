-- bad records (_q_df, the quarantine table's columns); a record quarantined before stays once
insert or ignore into quarantine by name
select * from _q_df
