DROP TABLE trainings;
DROP TABLE funding_transitions;
DROP TABLE funding_requests;
