-- Mass balance of every lot: kg in (its inputs), kg made, kg its children took, kg shipped,
-- units packed and sold. Losses = input_kg - output_kg (water in drying, bran in milling).
SELECT l.lot_id, l.step, l.gtin, l.plot_id, l.made_by, l.quantity_kg AS output_kg, l.units,
       (SELECT SUM(e.kg) FROM edge AS e WHERE e.child_lot = l.lot_id) AS input_kg,
       (SELECT SUM(e.kg) FROM edge AS e WHERE e.parent_lot = l.lot_id) AS consumed_kg,
       (SELECT SUM(sl.kg) FROM shipment_lot AS sl WHERE sl.lot_id = l.lot_id) AS shipped_kg,
       (SELECT SUM(s.quantity_units) FROM sale AS s WHERE s.lot_id = l.lot_id) AS sold_units
FROM lot AS l
ORDER BY l.lot_id
