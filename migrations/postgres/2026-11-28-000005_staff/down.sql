DROP TABLE postings;
DROP TABLE staff;
