-- Per processor, month (Asia/Shanghai) and step: transformations, kg in, kg out.
-- SQLite spells the month with strftime; PostgreSQL has its own copy with to_char.
SELECT l.made_by AS processor, strftime('%Y-%m', l.made_at, '+8 hours') AS month, l.step,
       COUNT(*) AS transformations, SUM(i.kg) AS input_kg, SUM(l.quantity_kg) AS output_kg
FROM lot AS l
JOIN (SELECT child_lot, SUM(kg) AS kg FROM edge GROUP BY child_lot) AS i
  ON i.child_lot = l.lot_id
GROUP BY l.made_by, strftime('%Y-%m', l.made_at, '+8 hours'), l.step
ORDER BY 1, 2, 3
