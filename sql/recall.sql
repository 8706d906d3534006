-- Everything made from the recall's seed lots, where it went and what is left.
-- The seed query (sql/recall_seeds_<kind>.sql) replaces the SEEDS marker below; it returns
-- each seed lot's lot_id, gtin, units and quantity_kg.
-- Parameters: those of the seed query, :max_depth.
-- Rows (kind, id, s1, s2, n1, n2, n3, n4, n5):
--   one ('lots', NULL, lots, packed_lots, packed_units, max_depth, ...) row: every
--    descendant (seeds included) and those packed under a GTIN as JSON arrays of lot ids in
--    code-point order, the units packed and the deepest step (MAX_DEPTH: a cycle); a county's
--    ten thousand lots reach Python as one row instead of one row each;
--   ('party', party, role, name, received_kg, received_units, shipped_on_kg, sold_units,
--    sold_kg) for every party that received, shipped on or sold any of them;
--   ('unsold', party, lot, gtin, kg_per_unit, units_held, ...) for every party that holds
--    some of a lot packed in units (received - shipped on - sold > 0): a processor's own
--    stock of what it made is among these, recall() leaves it out.
-- The walk reads each child lot's GTIN, units and kg from its edge (copies kept by triggers,
-- migration 0004; index ix_edge_walk) and the seeds' from their own rows, so no lot is looked
-- up on its own; a lot not in the store yet (NULL copies) is walked through but not listed.
-- Movements come from lot_flow (migration 0003): one row per lot and party with the shipment
-- lines and till records summed by triggers, so a lot costs one lookup here, not one per
-- shipment line, shipment and retailer. Sums and roles are made here so that a county's tens
-- of thousands of movements never reach Python; rounding is left to recall(), the same on
-- both databases.
-- PostgreSQL has its own copy of this file (recall.postgresql.sql): only the lookups differ.
WITH RECURSIVE seeds(lot_id, gtin, units, kg) AS (
    /*SEEDS*/
),
descendants(lot_id, depth, gtin, units, kg) AS (
    SELECT lot_id, 0, gtin, units, kg FROM seeds
    UNION
    SELECT e.child_lot, d.depth + 1, e.child_gtin, e.child_units, e.child_kg
    FROM descendants AS d
    JOIN edge AS e ON e.parent_lot = d.lot_id
    WHERE d.depth < :max_depth
),
lots AS (
    SELECT lot_id, MAX(depth) AS depth, MAX(gtin) AS gtin, MAX(units) AS units,
           CASE WHEN MAX(units) > 0 THEN MAX(kg) / MAX(units) END AS unit_kg
    FROM descendants
    GROUP BY lot_id
    HAVING MAX(kg) IS NOT NULL
),
flows AS (
    SELECT f.party_id, f.lot_id, l.gtin, l.unit_kg, f.received_kg, f.shipped_kg, f.sold_units
    FROM lots AS l JOIN lot_flow AS f ON f.lot_id = l.lot_id
),
parties AS (
    SELECT party_id, SUM(received_kg) AS received_kg,
           SUM(COALESCE(received_kg / NULLIF(unit_kg, 0), 0)) AS received_units,
           SUM(shipped_kg) AS shipped_kg, SUM(sold_units) AS sold_units,
           SUM(sold_units * COALESCE(unit_kg, 0)) AS sold_kg
    FROM flows
    GROUP BY party_id
)
SELECT 'lots' AS kind, NULL AS id, json_group_array(lot_id) AS s1,
       json_group_array(lot_id) FILTER (WHERE gtin IS NOT NULL) AS s2,
       SUM(units) FILTER (WHERE gtin IS NOT NULL) AS n1, MAX(depth) AS n2,
       NULL AS n3, NULL AS n4, NULL AS n5
FROM (SELECT lot_id, gtin, units, depth FROM lots ORDER BY lot_id)
UNION ALL
SELECT 'party', g.party_id, p.role, p.name, g.received_kg, g.received_units, g.shipped_kg,
       g.sold_units, g.sold_kg
FROM parties AS g LEFT JOIN party AS p ON p.party_id = g.party_id
UNION ALL
SELECT 'unsold', party_id, lot_id, gtin, unit_kg,
       (received_kg - shipped_kg) / unit_kg - sold_units, NULL, NULL, NULL
FROM flows
WHERE unit_kg <> 0 AND (received_kg - shipped_kg) / unit_kg - sold_units > 1e-9
