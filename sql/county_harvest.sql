-- Harvested kg per county and crop (every harvest lot, through its plot's newest version).
SELECT p.county_code, p.crop, SUM(h.quantity_kg) AS harvested_kg, COUNT(DISTINCT p.plot_id) AS plots
FROM lot AS h
JOIN plot AS p ON p.plot_id = h.plot_id
 AND p.version = (SELECT MAX(q.version) FROM plot AS q WHERE q.plot_id = p.plot_id)
GROUP BY p.county_code, p.crop
