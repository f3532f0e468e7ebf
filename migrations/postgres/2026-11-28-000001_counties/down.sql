DROP TABLE plan_status_changes;
DROP TABLE counties;
