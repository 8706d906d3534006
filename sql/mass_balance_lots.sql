-- Per lot: kg it had, kg its children consumed, kg shipped, units packed and units sold.
SELECT l.lot_id, l.quantity_kg, l.units, l.gtin,
       (SELECT SUM(e.kg) FROM edge AS e WHERE e.parent_lot = l.lot_id) AS consumed_kg,
       (SELECT SUM(s.quantity_units) FROM sale AS s WHERE s.lot_id = l.lot_id) AS sold_units
FROM lot AS l
