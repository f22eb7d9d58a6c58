-- Why a failing host fails: the last delivery error (a status, a refused
-- connection, a timeout) and when, for the console's delivery page and
-- `agora host list`. Cleared with the failure when a delivery succeeds.
ALTER TABLE hosts ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN last_error_at BIGINT NOT NULL DEFAULT 0;
