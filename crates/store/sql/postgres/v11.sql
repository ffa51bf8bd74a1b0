-- Counting inbox events per source (the console's overview, /metrics, the demo's progress) reads
-- this index instead of every event's payload.
CREATE INDEX inbox_source ON inbox (source);
