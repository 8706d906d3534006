-- Lots made by processing from inputs (a child of an edge) that have no conformity pledge of
-- their own while one of their parents has one: the parent's pledge travels on with the
-- mixed or repacked lot instead of a new one issued for it.
SELECT DISTINCT e.child_lot AS lot_id, e.parent_lot, c.certificate_id, c.number
FROM certificate AS c
JOIN edge AS e ON e.parent_lot = c.lot_id
WHERE c.kind = 'conformity_pledge'
  AND NOT EXISTS (SELECT 1 FROM certificate AS o
                  WHERE o.lot_id = e.child_lot AND o.kind = 'conformity_pledge')
ORDER BY 1, 2, 3
