-- PostgreSQL's 0016 tells listening nodes of writes to the tables they
-- cache; SQLite has one node and reads them in the process. Nothing to
-- do: the number keeps the two backends' migrations aligned.
SELECT 1;
