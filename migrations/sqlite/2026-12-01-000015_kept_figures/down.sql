DROP TABLE kept_dates;
DROP TABLE kept_figures;
DROP TABLE figure_generations;
