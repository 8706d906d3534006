-- Ancestry of one lot: every ancestor lot with its share of the lot's kg.
-- Parameters: :lot, :max_depth. Portable SQL: SQLite and PostgreSQL run the same text
-- (the CAST matches the id columns, models.ID, or PostgreSQL rejects the recursive term).
--
-- edge.share is the parent's fraction of the child's input kg (set at ingest), so the
-- product of shares along a path is the fraction of the lot that came down that path.
-- UNION ALL keeps every path: through a blend and a split the same ancestor is reached
-- more than once, and its shares add up. Cycles cannot be made by the contract's ingest
-- (an output lot must be new); :max_depth guards against one arriving any other way and
-- the caller reports a walk that reached it.
WITH RECURSIVE ancestry(lot_id, share, depth) AS (
    SELECT CAST(:lot AS VARCHAR(128)), CAST(1.0 AS DOUBLE PRECISION), 0
    UNION ALL
    SELECT e.parent_lot, a.share * e.share, a.depth + 1
    FROM ancestry AS a
    JOIN edge AS e ON e.child_lot = a.lot_id
    WHERE a.depth < :max_depth
)
SELECT a.lot_id, l.plot_id, l.step, SUM(a.share) AS share, MIN(a.depth) AS depth,
       MAX(a.depth) AS max_depth
FROM ancestry AS a
JOIN lot AS l ON l.lot_id = a.lot_id
GROUP BY a.lot_id, l.plot_id, l.step
ORDER BY MIN(a.depth), a.lot_id
