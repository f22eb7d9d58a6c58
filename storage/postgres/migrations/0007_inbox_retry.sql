-- An activity whose processing failed (an origin that did not answer, a
-- follower's actor that could not be fetched) is tried again later:
-- attempts so far, and when the next one is due (ms; 0: now).
ALTER TABLE inbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE inbox ADD COLUMN next_at BIGINT NOT NULL DEFAULT 0;
