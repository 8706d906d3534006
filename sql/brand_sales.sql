-- Units and kg sold per GTIN, with what the product says about itself (names, category,
-- extra columns such as origin_county). kg = units x the sold lot's own kg per unit.
-- Sales are summed first and joined to product after, so the JSON column is never grouped.
SELECT pr.gtin, pr.name_zh, pr.name_en, pr.category, pr.extra, s.sold_units, s.sold_kg
FROM product AS pr
JOIN (SELECT sa.gtin, SUM(sa.quantity_units) AS sold_units,
             SUM(sa.quantity_units * l.quantity_kg / l.units) AS sold_kg
      FROM sale AS sa
      JOIN lot AS l ON l.lot_id = sa.lot_id
      WHERE l.units > 0
      GROUP BY sa.gtin) AS s ON s.gtin = pr.gtin
ORDER BY pr.gtin
