-- Everything made from the recall's seed lots, where it went and what is left.
-- The same rows as sql/recall.sql (see there), on PostgreSQL: every step from a lot to its rows
-- in edge and lot_flow, and from a party to its row in party, is a LATERAL subquery with
-- OFFSET 0. The OFFSET keeps the planner from flattening the subquery into a plain join (which
-- it does with a bare LATERAL), so each one runs as an index lookup per lot whatever the
-- statistics say. With a plain join, PostgreSQL cannot estimate the recursive term and, when
-- the tables have no statistics yet (a store just loaded, before autovacuum's ANALYZE),
-- hash-joins full scans of edge at every step and of the tables behind it: seconds for a
-- county instead of tens of ms (issue 3; bench/lineage.py measures every variant).
-- SQLite's planner takes the indexes on its own. The lots' JSON arrays are made by json_agg
-- (SQLite: json_group_array) from the lots sorted once, in C collation: code-point order, as
-- Python sorts (one sort instead of one per aggregate's ORDER BY; recall() sorts again, one
-- linear pass on sorted input, so the order is never left to the database alone).
-- One more difference: a lot whose edge copies are NULL is looked up in lot. Two loads at once
-- can leave them NULL here (an edge written before its child lot by an EPCIS document while
-- the lot's own record commits: neither trigger sees the other's row), never on SQLite, whose
-- writers take turns. The lookup runs only for such lots (a CASE branch), so the recall lists
-- the lot and its movements either way (sql/edge_child_fill.sql rewrites every copy).
WITH RECURSIVE seeds(lot_id, gtin, units, kg) AS (
    /*SEEDS*/
),
descendants(lot_id, depth, gtin, units, kg) AS (
    SELECT lot_id, 0, gtin, units, kg FROM seeds
    UNION
    SELECT e.child_lot, d.depth + 1, e.child_gtin, e.child_units, e.child_kg
    FROM descendants AS d
    CROSS JOIN LATERAL (
        SELECT child_lot, child_gtin, child_units, child_kg FROM edge
        WHERE edge.parent_lot = d.lot_id OFFSET 0
    ) AS e
    WHERE d.depth < :max_depth
),
lots AS (
    SELECT lot_id, depth, gtin, units, CASE WHEN units > 0 THEN kg / units END AS unit_kg
    FROM (
        SELECT lot_id, depth,
               CASE WHEN kg IS NULL THEN (SELECT gtin FROM lot WHERE lot.lot_id = g.lot_id)
                    ELSE gtin END AS gtin,
               CASE WHEN kg IS NULL THEN (SELECT units FROM lot WHERE lot.lot_id = g.lot_id)
                    ELSE units END AS units,
               CASE WHEN kg IS NULL THEN (SELECT quantity_kg FROM lot WHERE lot.lot_id = g.lot_id)
                    ELSE kg END AS kg
        FROM (
            SELECT lot_id, MAX(depth) AS depth, MAX(gtin) AS gtin, MAX(units) AS units,
                   MAX(kg) AS kg
            FROM descendants
            GROUP BY lot_id
        ) AS g
    ) AS k
    WHERE kg IS NOT NULL
),
flows AS (
    SELECT f.party_id, l.lot_id, l.gtin, l.unit_kg, f.received_kg, f.shipped_kg, f.sold_units
    FROM lots AS l
    CROSS JOIN LATERAL (
        SELECT party_id, received_kg, shipped_kg, sold_units FROM lot_flow
        WHERE lot_flow.lot_id = l.lot_id OFFSET 0
    ) AS f
),
parties AS (
    SELECT party_id, SUM(received_kg) AS received_kg,
           SUM(COALESCE(received_kg / NULLIF(unit_kg, 0), 0)) AS received_units,
           SUM(shipped_kg) AS shipped_kg, SUM(sold_units)::float8 AS sold_units,
           SUM(sold_units * COALESCE(unit_kg, 0)) AS sold_kg
    FROM flows
    GROUP BY party_id
)
SELECT 'lots' AS kind, NULL::text AS id, json_agg(lot_id)::text AS s1,
       json_agg(lot_id) FILTER (WHERE gtin IS NOT NULL)::text AS s2,
       (SUM(units) FILTER (WHERE gtin IS NOT NULL))::float8 AS n1, MAX(depth)::float8 AS n2,
       NULL::float8 AS n3, NULL::float8 AS n4, NULL::float8 AS n5
FROM (SELECT lot_id, gtin, units, depth FROM lots ORDER BY lot_id COLLATE "C") AS l
UNION ALL
SELECT 'party', g.party_id, p.role, p.name, g.received_kg, g.received_units, g.shipped_kg,
       g.sold_units, g.sold_kg
FROM parties AS g
LEFT JOIN LATERAL (
    SELECT role, name FROM party WHERE party.party_id = g.party_id OFFSET 0
) AS p ON TRUE
UNION ALL
SELECT 'unsold', party_id, lot_id, gtin, unit_kg,
       (received_kg - shipped_kg) / unit_kg - sold_units, NULL, NULL, NULL
FROM flows
WHERE unit_kg <> 0 AND (received_kg - shipped_kg) / unit_kg - sold_units > 1e-9
