-- Everything made from the recall's seed lots, where it went and what is left.
-- The seed query (sql/recall_seeds_<kind>.sql) replaces the SEEDS marker below.
-- Parameters: those of the seed query, :max_depth.
-- Rows (kind, lot_id, party, from_party, gtin, kg, units, depth):
--   ('lot', lot, NULL, NULL, gtin, kg, units, depth) for every descendant (seeds included),
--   ('shipped', lot, to_party, from_party, NULL, kg, NULL, NULL) per shipment line,
--   ('sold', lot, retailer, NULL, NULL, NULL, units, NULL) per lot and retailer, from
--   lot_sale: the till records summed by triggers (migration 0002), not re-summed here.
-- PostgreSQL has its own copy of this file (recall.postgresql.sql): only the walk differs.
WITH RECURSIVE seeds(lot_id) AS (
    /*SEEDS*/
),
descendants(lot_id, depth) AS (
    SELECT lot_id, 0 FROM seeds
    UNION
    SELECT e.child_lot, d.depth + 1
    FROM descendants AS d
    JOIN edge AS e ON e.parent_lot = d.lot_id
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
SELECT 'sold', ls.lot_id, ls.retailer_id, NULL, NULL, NULL, ls.units, NULL
FROM lot_sale AS ls
WHERE ls.lot_id IN (SELECT lot_id FROM lots)
