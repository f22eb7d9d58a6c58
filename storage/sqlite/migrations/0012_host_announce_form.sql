-- How a host takes a community's Announce of a member's post, when it is
-- known to differ from what its software's dialect says: 'by-id' for an
-- origin-strict receiver (NodeBB strips an embedded object of another
-- origin down to its id and fetches it, answering 424 when it cannot), so
-- it gets Announce{object id}. Learnt from a 4xx answer to Announce{Create}
-- and kept across restarts; a host switches once and never back.
ALTER TABLE hosts ADD COLUMN announce_form TEXT NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN announce_form_at INTEGER NOT NULL DEFAULT 0;
