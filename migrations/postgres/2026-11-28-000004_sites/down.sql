DROP TABLE equipment_checks;
DROP TABLE sites;
