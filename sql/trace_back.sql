-- Ancestry of one lot: every ancestor lot, the edges between them, and for each harvest lot
-- its plot and the version of the plot's geometry valid at the harvest.
-- Parameters: :lot, :max_depth. The same text runs on SQLite and PostgreSQL.
--
-- No row at all means the lot is not in the store: the walk starts from the lot table, so
-- one statement both checks the lot and traces it (one round trip; trace back at scale is a
-- handful of index lookups, and on PostgreSQL every extra round trip costs as much again).
--
-- The walk collects the subgraph once (UNION drops repeats of a (lot, depth) pair), and the
-- caller computes each plot's share over it in one pass in depth order, instead of the SQL
-- multiplying shares along every path: a blend of blends has many paths but few edges.
-- Cycles cannot be made by the contract's ingest (an output lot must be new); :max_depth
-- stops one that arrives any other way, and the caller reports a walk that reached it.
--
-- plot_version: the newest version whose valid_from is not after the harvest, else the
-- first version (a harvest recorded before the plot was first registered).
WITH RECURSIVE ancestry(lot_id, depth) AS (
    SELECT lot_id, 0 FROM lot WHERE lot_id = :lot
    UNION
    SELECT e.parent_lot, a.depth + 1
    FROM ancestry AS a
    JOIN edge AS e ON e.child_lot = a.lot_id
    WHERE a.depth < :max_depth
),
lots AS (SELECT lot_id, MAX(depth) AS depth FROM ancestry GROUP BY lot_id)
SELECT l.lot_id, l.depth, lot.gtin, lot.plot_id, lot.made_at, e.parent_lot, e.share,
       CASE WHEN lot.plot_id IS NOT NULL THEN
           (SELECT COALESCE(MAX(CASE WHEN p.valid_from <= lot.made_at THEN p.version END),
                            MIN(p.version))
            FROM plot AS p WHERE p.plot_id = lot.plot_id)
       END AS plot_version
FROM lots AS l
LEFT JOIN lot ON lot.lot_id = l.lot_id
LEFT JOIN edge AS e ON e.child_lot = l.lot_id
ORDER BY l.depth, l.lot_id
