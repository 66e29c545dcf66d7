-- the batch table _fast (analytics.batch_tables: registered as Arrow for the rest of the batch)
-- the positions the fast path accepts: values ok and a structure the model accepts (_good_structures)
select c.position
from _checked as c
semi join _good_structures as g using (structure)
where c.values_ok
