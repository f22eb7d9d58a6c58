-- PostgreSQL's 0015 indexes the inbox's claims between nodes; SQLite has
-- one node and no claims. Nothing to do: the number keeps the two
-- backends' migrations aligned.
SELECT 1;
