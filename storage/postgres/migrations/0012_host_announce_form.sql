-- How a host takes a community's Announce of a member's post, when it is
-- known to differ from what its software's dialect says (see
-- storage/sqlite's 0012): 'by-id', learnt once, kept.
ALTER TABLE hosts ADD COLUMN announce_form TEXT NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN announce_form_at BIGINT NOT NULL DEFAULT 0;
