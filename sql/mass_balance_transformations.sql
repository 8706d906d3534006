-- Output kg of each transformation against the kg it consumed (one row per output lot).
SELECT l.lot_id, l.step, l.quantity_kg AS output_kg, SUM(e.kg) AS input_kg,
       ev.record_id, ev.source_file, ev.line
FROM lot AS l
JOIN edge AS e ON e.child_lot = l.lot_id
JOIN event AS ev ON ev.event_id = l.event_id
GROUP BY l.lot_id, l.step, l.quantity_kg, ev.record_id, ev.source_file, ev.line
