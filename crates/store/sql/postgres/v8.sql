-- Claiming a run got slower with history and with every worker:
-- - a run waits for the unfinished runs of its entity (a customer, an order) that came before
--   it; that check looked at every run the entity ever had (runs_entity), so it grew with a
--   returning customer's history. An index of the unfinished runs alone stays as small as the
--   queue.
-- - looking for expired leases read every running run; an index of running runs by lease
--   expiry finds the expired ones (almost always none) at once.
-- runs_claim (status, next_attempt_at, id) answers what runs_due and runs_finished did, so
-- they go: each was one more index to update on every claim and finish.
CREATE INDEX runs_active_entity ON runs (entity_key, id) WHERE status IN ('queued', 'running');
CREATE INDEX runs_lease_expiry ON runs (lease_expires_at) WHERE status = 'running';
DROP INDEX IF EXISTS runs_entity;
DROP INDEX IF EXISTS runs_due;
DROP INDEX IF EXISTS runs_finished;
