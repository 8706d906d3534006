-- Ancestry of one lot: every ancestor lot, the edges between them, and the plot of each
-- harvest lot. Parameters: :lot, :max_depth. The same text runs on SQLite and PostgreSQL
-- (the CAST matches the id columns, models.ID, or PostgreSQL rejects the recursive term).
--
-- The walk collects the subgraph once (UNION drops repeats of a (lot, depth) pair), and the
-- caller computes each plot's share over it in one pass in depth order, instead of the SQL
-- multiplying shares along every path: a blend of blends has many paths but few edges.
-- Cycles cannot be made by the contract's ingest (an output lot must be new); :max_depth
-- stops one that arrives any other way, and the caller reports a walk that reached it.
WITH RECURSIVE ancestry(lot_id, depth) AS (
    SELECT CAST(:lot AS VARCHAR(128)), 0
    UNION
    SELECT e.parent_lot, a.depth + 1
    FROM ancestry AS a
    JOIN edge AS e ON e.child_lot = a.lot_id
    WHERE a.depth < :max_depth
),
lots AS (SELECT lot_id, MAX(depth) AS depth FROM ancestry GROUP BY lot_id)
SELECT l.lot_id, l.depth, lot.plot_id, lot.made_at, e.parent_lot, e.share
FROM lots AS l
LEFT JOIN lot ON lot.lot_id = l.lot_id
LEFT JOIN edge AS e ON e.child_lot = l.lot_id
ORDER BY l.depth, l.lot_id
