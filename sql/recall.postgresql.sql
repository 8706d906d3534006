-- Everything made from the recall's seed lots, where it went and what is left.
-- The seed query (sql/recall_seeds_<kind>.sql) replaces the SEEDS marker below.
-- Parameters: those of the seed query, :max_depth.
-- Rows (kind, lot_id, party, from_party, gtin, kg, units, depth):
--   ('lot', lot, NULL, NULL, gtin, kg, units, depth) for every descendant (seeds included),
--   ('shipped', lot, to_party, from_party, NULL, kg, NULL, NULL) per shipment line,
--   ('sold', lot, retailer, NULL, NULL, NULL, units, NULL) per lot and retailer, from
--   lot_sale: the till records summed by triggers (migration 0002), not re-summed here.
-- PostgreSQL: the same answer as sql/recall.sql, but every step from a lot to its rows in edge,
-- lot, shipment_lot, shipment and sale is a LATERAL subquery with OFFSET 0. The OFFSET keeps
-- the planner from flattening the subquery into a plain join (which it does with a bare
-- LATERAL), so each one runs as an index lookup per lot whatever the statistics say. With a
-- plain join, PostgreSQL cannot estimate the recursive term and, when the tables have no
-- statistics yet (a store just loaded, before autovacuum's ANALYZE), hash-joins full scans of
-- edge at every step, of shipment_lot and shipment, and merge-joins all of sale: seconds for a
-- county instead of tens of ms (issue 3; bench/lineage.py measures every variant).
-- SQLite's planner takes the indexes on its own.
WITH RECURSIVE seeds(lot_id) AS (
    /*SEEDS*/
),
descendants(lot_id, depth) AS (
    SELECT lot_id, 0 FROM seeds
    UNION
    SELECT e.child_lot, d.depth + 1
    FROM descendants AS d
    CROSS JOIN LATERAL (
        SELECT child_lot FROM edge WHERE edge.parent_lot = d.lot_id OFFSET 0
    ) AS e
    WHERE d.depth < :max_depth
),
lots AS (SELECT lot_id, MAX(depth) AS depth FROM descendants GROUP BY lot_id)
SELECT 'lot' AS kind, l.lot_id, NULL AS party, NULL AS from_party, lt.gtin,
       lt.quantity_kg AS kg, lt.units, l.depth
FROM lots AS l
CROSS JOIN LATERAL (
    SELECT gtin, quantity_kg, units FROM lot WHERE lot.lot_id = l.lot_id OFFSET 0
) AS lt
UNION ALL
SELECT 'shipped', l.lot_id, s.to_party, s.from_party, NULL, sl.kg, NULL, NULL
FROM lots AS l
CROSS JOIN LATERAL (
    SELECT shipment_id, kg FROM shipment_lot WHERE shipment_lot.lot_id = l.lot_id OFFSET 0
) AS sl
CROSS JOIN LATERAL (
    SELECT to_party, from_party FROM shipment
    WHERE shipment.shipment_id = sl.shipment_id OFFSET 0
) AS s
UNION ALL
SELECT 'sold', l.lot_id, ls.retailer_id, NULL, NULL, NULL, ls.units, NULL
FROM lots AS l
CROSS JOIN LATERAL (
    SELECT retailer_id, units FROM lot_sale WHERE lot_sale.lot_id = l.lot_id OFFSET 0
) AS ls
