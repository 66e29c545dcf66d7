-- the document structures of the batch whose values passed the fast checks (prevalidate.sql)
select distinct structure from _checked where values_ok
