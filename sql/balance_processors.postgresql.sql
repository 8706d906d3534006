-- Per processor, month (Asia/Shanghai) and step: transformations, kg in, kg out.
-- The PostgreSQL spelling of sql/balance_processors.sql (to_char instead of strftime).
SELECT l.made_by AS processor, to_char(l.made_at + interval '8 hours', 'YYYY-MM') AS month,
       l.step, COUNT(*) AS transformations, SUM(i.kg) AS input_kg,
       SUM(l.quantity_kg) AS output_kg
FROM lot AS l
JOIN (SELECT child_lot, SUM(kg) AS kg FROM edge GROUP BY child_lot) AS i
  ON i.child_lot = l.lot_id
GROUP BY l.made_by, to_char(l.made_at + interval '8 hours', 'YYYY-MM'), l.step
ORDER BY 1, 2, 3
