-- Everything made from the recall's seed lots, where it went and what is left.
-- The seed query (sql/recall_seeds_<kind>.sql) replaces the SEEDS marker below.
-- Parameters: those of the seed query, :max_depth.
-- Rows (kind, lot_id, party, from_party, gtin, kg, units, depth):
--   ('lot', lot, NULL, NULL, gtin, kg, units, depth) for every descendant (seeds included),
--   ('shipped', lot, to_party, from_party, NULL, kg, NULL, NULL) per shipment line,
--   ('sold', lot, retailer, NULL, NULL, NULL, units, NULL) per lot and retailer.
-- PostgreSQL: the walk joins through LATERAL, which forces an index lookup of each lot's
-- children. With a plain join PostgreSQL's planner, which cannot estimate the size of a
-- recursive term, hash-joins a full scan of edge at every step: 4 s for a county on 2.3 M
-- edges instead of tens of ms (issue 3). SQLite's planner takes the index on its own.
WITH RECURSIVE seeds(lot_id) AS (
    /*SEEDS*/
),
descendants(lot_id, depth) AS (
    SELECT lot_id, 0 FROM seeds
    UNION
    SELECT e.child_lot, d.depth + 1
    FROM descendants AS d
    CROSS JOIN LATERAL (SELECT child_lot FROM edge WHERE edge.parent_lot = d.lot_id) AS e
    WHERE d.depth < :max_depth
),
lots AS (SELECT lot_id, MAX(depth) AS depth FROM descendants GROUP BY lot_id)
SELECT 'lot' AS kind, l.lot_id, NULL AS party, NULL AS from_party, lot.gtin,
       lot.quantity_kg AS kg,
       lot.units, l.depth
FROM lots AS l JOIN lot ON lot.lot_id = l.lot_id
UNION ALL
SELECT 'shipped', sl.lot_id, s.to_party, s.from_party, NULL, sl.kg, NULL, NULL
FROM shipment_lot AS sl JOIN shipment AS s ON s.shipment_id = sl.shipment_id
WHERE sl.lot_id IN (SELECT lot_id FROM lots)
UNION ALL
SELECT 'sold', sa.lot_id, sa.retailer_id, NULL, NULL, NULL, SUM(sa.quantity_units), NULL
FROM sale AS sa
WHERE sa.lot_id IN (SELECT lot_id FROM lots)
GROUP BY sa.lot_id, sa.retailer_id
