DROP TABLE towns;
