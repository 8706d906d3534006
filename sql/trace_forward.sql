-- Everything made from a plot or a lot, and the retailers that received or sold any of it.
-- Parameters: :plot (a plot id or NULL), :lot (a lot id or NULL), :max_depth.
-- Returns rows (kind, id): kind 'lot' for every descendant lot (harvest lots included),
-- kind 'retailer' for each retailer party. UNION (not ALL) drops repeats of a (lot, depth),
-- and the depth guard stops a cycle.
WITH RECURSIVE descendants(lot_id, depth) AS (
    SELECT lot_id, 0 FROM lot
    WHERE lot_id = CAST(:lot AS VARCHAR(128)) OR plot_id = CAST(:plot AS VARCHAR(128))
    UNION
    SELECT e.child_lot, d.depth + 1
    FROM descendants AS d
    JOIN edge AS e ON e.parent_lot = d.lot_id
    WHERE d.depth < :max_depth
),
lots AS (SELECT DISTINCT lot_id FROM descendants)
SELECT 'lot' AS kind, lot_id AS id, (SELECT MAX(depth) FROM descendants) AS depth FROM lots
UNION ALL
SELECT 'retailer', p.party_id, NULL
FROM party AS p
WHERE p.role = 'retailer' AND (
    p.party_id IN (SELECT s.to_party FROM shipment AS s
                   JOIN shipment_lot AS sl ON sl.shipment_id = s.shipment_id
                   WHERE sl.lot_id IN (SELECT lot_id FROM lots))
    OR p.party_id IN (SELECT retailer_id FROM sale WHERE lot_id IN (SELECT lot_id FROM lots))
)
